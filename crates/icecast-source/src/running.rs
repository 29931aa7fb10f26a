//! The state of one running stream: its connection, pacer, format, silence, mute and
//! title, and what it does on a lost connection (see [`crate::streamer`] for the loop that
//! drives it).

use std::time::{Duration, Instant};

use mp3_frames::silent_frame;
use tokio::sync::mpsc;

use crate::format::{Format, check_pushed};
use crate::ogg_relay::OggRelay;
use crate::silence::silent_adts;
use crate::{
    AudioFrame, Command, Error, Event, IcecastConfig, IcecastRefusal, IcecastSource, Pacer,
    StreamOptions, update_title,
};

/// Pause between two attempts to set a title again after a reconnection.
const TITLE_RETRY: Duration = Duration::from_millis(500);
/// Attempts to set the title again after a reconnection.
const TITLE_ATTEMPTS_AFTER_RECONNECT: u32 = 3;

/// The state of one running stream.
pub(crate) struct Stream {
    pub(crate) config: IcecastConfig,
    pub(crate) options: StreamOptions,
    pub(crate) source: Option<IcecastSource>,
    pub(crate) pacer: Pacer,
    pub(crate) format: Format,
    /// The silent frame of the stream's format (MP3, AAC).
    pub(crate) silent_frame: Option<AudioFrame>,
    /// An Ogg stream's pages pass through this, which also makes its silent pages.
    pub(crate) ogg: Option<OggRelay>,
    /// The next input frame, when it could not be sent yet (first frame, failed send).
    pub(crate) pending: Option<AudioFrame>,
    pub(crate) muted: bool,
    /// A playlist stream whose queue ran dry sends silence instead of ending.
    pub(crate) stop_when_empty: bool,
    /// The queue is dry (reported once until a song comes).
    pub(crate) dry: bool,
    /// The last title asked for: set again after a reconnection.
    pub(crate) title: Option<String>,
    pub(crate) index: u64,
    /// Frame count of the input, when known.
    pub(crate) total: Option<u64>,
    pub(crate) events: mpsc::Sender<Event>,
}

impl Stream {
    pub(crate) fn new(
        mut config: IcecastConfig,
        options: StreamOptions,
        format: Format,
        first: AudioFrame,
        events: mpsc::Sender<Event>,
    ) -> Self {
        let info = &mut config.info;
        let silent_frame = match format {
            Format::Mp3(header) => {
                info.bitrate_kbps = info
                    .bitrate_kbps
                    .or(Some(header.bitrate() / 1000).filter(|b| *b > 0));
                info.channels = info.channels.or(Some(header.mode().channels()));
                silent_frame(&header.with_padding(false)).ok().map(|data| {
                    AudioFrame::new(data.into(), header.samples(), header.sample_rate())
                })
            }
            Format::Aac(header) => {
                info.channels = info.channels.or(header.channels());
                silent_adts(&header)
            }
            // Silent Opus and Vorbis pages come from the relay.
            Format::Ogg(codec) => {
                info.channels = info.channels.or(codec.map(|c| c.channels()));
                None
            }
        };
        info.sample_rate = info.sample_rate.or(Some(first.sample_rate));
        let mut ogg = matches!(format, Format::Ogg(_)).then(OggRelay::default);
        let first = match ogg.as_mut() {
            Some(relay) => relay.page(first),
            None => first,
        };
        Stream {
            pacer: Pacer::new(Instant::now(), first.sample_rate, options.lead),
            config,
            options,
            source: None,
            format,
            silent_frame,
            ogg,
            pending: Some(first),
            muted: false,
            stop_when_empty: true,
            dry: false,
            title: None,
            index: 0,
            total: None,
            events,
        }
    }

    /// The next silent frame or page of the stream's format, if one can go now (for Ogg,
    /// in a link of silence of its own after the last song's end).
    pub(crate) fn silence(&mut self) -> Option<AudioFrame> {
        match self.ogg.as_mut() {
            Some(relay) => relay.silence(true),
            None => self.silent_frame.clone(),
        }
    }

    /// Where a song's first page ended a link of silence: that link's last page.
    pub(crate) fn take_ogg_closing(&mut self) -> Option<AudioFrame> {
        self.ogg.as_mut().and_then(OggRelay::take_closing)
    }

    /// An input frame as it goes on the wire (Ogg pages renumbered after silent pages).
    /// A mute taken before an Ogg Vorbis song's setup header was read ends when that
    /// header cannot be read: the stream has no silence to send, and says so.
    pub(crate) fn relay(&mut self, frame: AudioFrame) -> AudioFrame {
        let Some(relay) = self.ogg.as_mut() else {
            return frame;
        };
        let frame = relay.page(frame);
        if self.muted
            && let Some(reason) = self.mute_refusal()
        {
            self.muted = false;
            self.refuse_mute(&reason);
            self.report(Event::Unmuted);
        }
        frame
    }

    /// Why the stream has no silence of its format for a mute (`None`: it has, or an Ogg
    /// stream may once its headers are read).
    fn mute_refusal(&self) -> Option<String> {
        match self.format {
            Format::Ogg(codec) => self.ogg.as_ref().and_then(|r| r.mute_refusal(codec)),
            Format::Mp3(_) | Format::Aac(_) if self.silent_frame.is_some() => None,
            Format::Mp3(_) => Some("no silent frame for this MP3 header".into()),
            Format::Aac(_) => Some(
                "no silent AAC frame for a channel configuration given in-band, or an \
                 object type other than Main, LC or LTP"
                    .into(),
            ),
        }
    }

    /// A mute refused: the event says why.
    fn refuse_mute(&self, reason: &str) {
        let error = Error::MuteUnsupported {
            content_type: self.config.content_type.as_str(),
        };
        self.report(Event::CommandRefused {
            command: Command::Mute,
            reason: format!("{error}: {reason}"),
        });
    }

    pub(crate) fn report(&self, event: Event) {
        let _ = self.events.try_send(event);
    }

    /// Reports the end; the connection closes when the stream is dropped.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        self.report(Event::Finished);
        Ok(())
    }

    /// A pushed frame must keep the first frame's format: listeners' decoders were set up
    /// for it, and the pacer counts samples at its rate.
    pub(crate) fn check_pushed(&self, frame: AudioFrame) -> Result<AudioFrame, Error> {
        // Every earlier frame was sent before the input is read again.
        check_pushed(
            &self.config,
            self.format,
            self.pacer.sample_rate(),
            frame,
            self.index,
        )
    }

    pub(crate) fn apply(&mut self, command: Command) {
        match command {
            Command::Mute if let Some(reason) = self.mute_refusal() => self.refuse_mute(&reason),
            Command::Mute if !self.muted => {
                self.muted = true;
                self.report(Event::Muted);
            }
            Command::Unmute if self.muted => {
                self.muted = false;
                self.report(Event::Unmuted);
            }
            Command::Title(title) => {
                self.title = Some(title.clone());
                self.send_title(title, 1);
            }
            Command::Enqueue(_)
            | Command::PlayNext(_)
            | Command::Skip
            | Command::Clear
            | Command::List => self.report(Event::CommandRefused {
                command,
                reason: "frames pushed from code have no queue".into(),
            }),
            Command::Mute | Command::Unmute | Command::Stop | Command::StopWhenEmpty => {}
        }
    }

    /// Sets `title` on a connection of its own (a task), trying up to `attempts` times
    /// half a second apart; reports [`Event::TitleSet`] or the last failure.
    fn send_title(&self, title: String, attempts: u32) {
        let (config, timeout, events) = (
            self.config.clone(),
            self.options.timeout,
            self.events.clone(),
        );
        tokio::spawn(async move {
            let mut attempt = 1;
            let event = loop {
                match update_title(&config, &title, timeout).await {
                    Ok(()) => break Event::TitleSet(title),
                    Err(e) if attempt >= attempts => {
                        break Event::TitleFailed {
                            title,
                            reason: e.to_string(),
                        };
                    }
                    Err(_) => attempt += 1,
                }
                tokio::time::sleep(TITLE_RETRY).await;
            };
            let _ = events.try_send(event);
        });
    }

    /// Ends the stream so that listeners get all of it: Icecast relays whole queue blocks
    /// only (`queue-block-size`, 1400 bytes by default), so the tail of the input would
    /// stay behind; silent frames push it out (MP3; an AAC stream loses up to one block).
    /// Then waits until real time reaches the end of what was sent, since a source that
    /// leaves early takes its queued bytes with it.
    pub(crate) async fn flush(&mut self) -> Result<(), Error> {
        let mut padded = 0;
        // An ended Ogg stream gets no link of silence: only its open link is padded.
        while padded < self.options.flush_bytes
            && let Some(silence) = match self.ogg.as_mut() {
                Some(relay) => relay.silence(false),
                None => self.silent_frame.clone(),
            }
        {
            padded += silence.data.len();
            self.send(silence, false).await?;
        }
        tokio::time::sleep(self.pacer.wait(Instant::now()) + self.options.lead).await;
        Ok(())
    }

    /// Sends one frame when it is due; on a lost connection, reconnects and keeps an input
    /// frame for resending (silence is not resent: it has no place in the input).
    pub(crate) async fn send(&mut self, frame: AudioFrame, from_input: bool) -> Result<(), Error> {
        tokio::time::sleep(self.pacer.wait(Instant::now())).await;
        let sent = match self.source.as_mut() {
            Some(source) => source.send(&frame.data).await,
            None => Err(Error::Closed),
        };
        if let Err(e) = sent {
            self.report(Event::Disconnected {
                reason: e.to_string(),
            });
            if from_input {
                self.pending = Some(frame);
            }
            self.source = Some(self.reconnect().await?);
            self.pacer.resume_at(Instant::now());
            // A restarted server (or a mount that was dropped) has no title: set it again.
            // Tried a few times: right after the answer to the source request the mount
            // may not take metadata yet.
            if let Some(title) = self.title.clone() {
                self.send_title(title, TITLE_ATTEMPTS_AFTER_RECONNECT);
            }
            return Ok(());
        }
        self.pacer.sent(frame.samples);
        if from_input {
            self.report(Event::FrameSent {
                index: self.index,
                total: self.total,
                time: self.pacer.media_time(),
            });
            self.index += 1;
        }
        Ok(())
    }

    /// Reconnects after a lost connection, with backoff: right after a drop the server may
    /// still hold the mount for our dead connection ("mount in use") for a moment, so that
    /// refusal is retried here although [`Error::is_permanent`] calls it permanent.
    async fn reconnect(&self) -> Result<IcecastSource, Error> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match IcecastSource::connect(&self.config, self.options.timeout).await {
                Ok(source) => {
                    self.report(Event::Connected {
                        method: source.method(),
                    });
                    return Ok(source);
                }
                // Retrying cannot fix these: stop after one attempt.
                Err(
                    e @ Error::Refused {
                        refusal:
                            IcecastRefusal::WrongCredentials | IcecastRefusal::UnsupportedContentType(_),
                        ..
                    },
                ) => return Err(e),
                Err(e) => self.report(Event::Disconnected {
                    reason: e.to_string(),
                }),
            }
            attempt += 1;
            let delay = self.options.reconnect.delay(attempt, rand::random::<f64>());
            if started.elapsed() + delay > self.options.give_up_after {
                return Err(Error::Timeout {
                    what: format!("reconnecting to {}", self.config),
                });
            }
            self.report(Event::Reconnecting { delay });
            tokio::time::sleep(delay).await;
        }
    }
}
