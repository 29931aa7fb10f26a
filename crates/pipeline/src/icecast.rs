//! Icecast output: the [`icecast_source`] crate, re-exported so that `pipeline::icecast`
//! keeps its paths. The protocol, pacing, reconnect, playlists and console commands live
//! there; its [`icecast_source::Error`] becomes [`crate::Error::Icecast`].

pub use icecast_source::{
    AudioFrame, Command, ContentType, Error as IcecastError, Event, EventStream, IcecastConfig,
    IcecastRefusal, IcecastSource, IcecastStream, MountStatus, Mp3Input, Pacer, StreamInfo,
    StreamOptions, adts, forward_commands, mount_status, ogg, parse_command, protocol,
    stream_playlist, update_title,
};
