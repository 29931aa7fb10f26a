//! HLS output (RFC 8216): fMP4 segments from `bmff_writer::SegmentWriter` in a directory
//! (`init.mp4`, then `segment-00001.m4s`, ...) and a media playlist.
//!
//! Live mode rewrites the playlist after every segment (`EXT-X-PLAYLIST-TYPE:EVENT`,
//! atomically through a temporary file) and adds `EXT-X-ENDLIST` at the end; VOD mode
//! writes it once, complete, at the end. A codec change brings a new init segment, so the
//! playlist repeats `EXT-X-MAP` (RFC 8216 §4.3.2.5) before the first segment needing it,
//! after an `EXT-X-DISCONTINUITY` (§4.3.2.3: encoding parameters changed).
//!
//! Crash and full-disk safety: every segment is written whole under a temporary name and
//! renamed (`bmff_writer::write_segment_file`), then listed; a failed write leaves no
//! partial or empty file, and when the playlist cannot be rewritten the segment it would
//! have listed is removed again. So the directory holds only complete segments, all of
//! them listed (a killed recorder can leave one hidden `.segment-N.m4s.tmp`, removed when
//! the next recording into the directory starts). Syncing
//! follows `Options::fsync`: segment data before its rename, the playlist and the
//! directory after.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::time::SystemTime;

use bmff_writer::{
    FsyncSchedule, InitSegment, MediaSegment, SegmentSink, SegmentWriter, sync_dir,
    write_segment_file,
};

use super::samples::{self, Timeline, frames_by_kind, sample, track_config};
use crate::contract::{Sink, SinkFactory};
use crate::{Error, HlsMode, Options};
use crate::{Packet, Track};

pub(crate) struct HlsFactory {
    pub(crate) dir: PathBuf,
    pub(crate) playlist: String,
    pub(crate) options: Options,
}

impl SinkFactory for HlsFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        samples::check(&self.dir.join(&self.playlist).display().to_string(), tracks)
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("creating {}", self.dir.display()), e))?;
        remove_leftovers(&self.dir, &self.playlist);
        let configs = tracks
            .iter()
            .map(track_config)
            .collect::<Result<Vec<_>, _>>()?;
        let dir = Playlist {
            dir: self.dir.clone(),
            name: self.playlist.clone(),
            mode: self.options.hls.unwrap_or_default(),
            inits: Vec::new(),
            segments: Vec::new(),
            fsync: FsyncSchedule::new(self.options.fsync_policy()),
            tracks: tracks.to_vec(),
            samples: vec![0; tracks.len()],
        };
        let options = bmff_writer::FragmentOptions::new(self.options.fragment_duration);
        let writer = SegmentWriter::new(dir, configs, options).map_err(|e| self.err(e))?;
        Ok(Box::new(HlsSink {
            writer,
            tracks: tracks.to_vec(),
            timeline: Timeline::default(),
            output: self.dir.join(&self.playlist).display().to_string(),
        }))
    }
}

impl HlsFactory {
    fn err(&self, source: bmff_writer::Error) -> Error {
        Error::Mp4 {
            output: self.dir.join(&self.playlist).display().to_string(),
            source,
        }
    }
}

struct HlsSink {
    writer: SegmentWriter<Playlist>,
    tracks: Vec<Track>,
    timeline: Timeline,
    output: String,
}

impl HlsSink {
    fn err(&self) -> impl Fn(bmff_writer::Error) -> Error + '_ {
        |source| Error::Mp4 {
            output: self.output.clone(),
            source,
        }
    }
}

impl Sink for HlsSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        let Some(sample) = sample(packet, &self.tracks, &mut self.timeline) else {
            return Ok(());
        };
        self.writer.push(sample).map_err(self.err())
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        // The whole sample entry: a new picture size too, not only the parameter sets.
        let config = track_config(config)?;
        self.writer.set_config(track, config).map_err(self.err())
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        let output = self.output.clone();
        let mut playlist = self.writer.finish().map_err(|source| Error::Mp4 {
            output: output.clone(),
            source,
        })?;
        // The end of a recording is made durable, unless nothing is (`FsyncPolicy::Never`).
        let sync = playlist.fsync.policy() != bmff_writer::FsyncPolicy::Never;
        playlist
            .write(true, sync)
            .map_err(|e| Error::io(format!("writing {output}"), e))?;
        Ok(Some(playlist.dir.join(&playlist.name)))
    }
}

/// Removes the hidden temporary files a killed recorder can leave (`.segment-N.m4s.tmp`,
/// `.init.mp4.tmp`, `.PLAYLIST.tmp`): never complete, never listed. Only these names.
fn remove_leftovers(dir: &std::path::Path, playlist: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
            continue;
        };
        let ours = inner == playlist
            || (inner.starts_with("segment-") && inner.ends_with(".m4s"))
            || (inner.starts_with("init") && inner.ends_with(".mp4"));
        if ours {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The segment files and the playlist that lists them.
struct Playlist {
    dir: PathBuf,
    name: String,
    mode: HlsMode,
    /// Init segment file names, by init number - 1.
    inits: Vec<String>,
    /// (file name, init number, duration in seconds).
    segments: Vec<(String, u32, f64)>,
    fsync: FsyncSchedule,
    tracks: Vec<Track>,
    /// Samples in the listed segments, per track.
    samples: Vec<u64>,
}

impl Playlist {
    fn text(&self, ended: bool) -> String {
        let target = self
            .segments
            .iter()
            .map(|s| s.2.round() as u64)
            .max()
            .unwrap_or(1)
            .max(1);
        let mut t = String::new();
        let kind = match self.mode {
            HlsMode::Vod => "VOD",
            HlsMode::Live => "EVENT",
        };
        let _ = write!(
            t,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:1\n\
             #EXT-X-PLAYLIST-TYPE:{kind}\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        );
        let mut map = 0;
        for (name, init, duration) in &self.segments {
            if *init != map {
                // New encoding parameters (another picture size, a codec change): RFC
                // 8216 §4.3.2.3 says a discontinuity should come with them, so a player
                // resets its decoder rather than feed the new pictures to the old one.
                if map != 0 {
                    t.push_str("#EXT-X-DISCONTINUITY\n");
                }
                map = *init;
                let uri = self
                    .inits
                    .get(map as usize - 1)
                    .map_or("init.mp4", |s| s.as_str());
                let _ = writeln!(t, "#EXT-X-MAP:URI=\"{uri}\"");
            }
            let _ = writeln!(t, "#EXTINF:{duration:.6},\n{name}");
        }
        if ended {
            t.push_str("#EXT-X-ENDLIST\n");
        }
        t
    }

    /// Replaces the playlist atomically (temporary file, then rename; on failure the old
    /// one stays and no temporary file is left).
    fn write(&mut self, ended: bool, sync: bool) -> io::Result<()> {
        let text = bytes::Bytes::from(self.text(ended));
        write_segment_file(&self.dir.join(&self.name), &[text], sync)?;
        if sync {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

impl SegmentSink for Playlist {
    fn init_segment(&mut self, init: &InitSegment) -> io::Result<()> {
        let name = if init.number == 1 {
            "init.mp4".to_owned()
        } else {
            format!("init-{}.mp4", init.number)
        };
        write_segment_file(
            &self.dir.join(&name),
            std::slice::from_ref(&init.bytes),
            self.fsync.policy() != bmff_writer::FsyncPolicy::Never,
        )?;
        self.inits.push(name);
        Ok(())
    }

    fn media_segment(&mut self, segment: &MediaSegment) -> io::Result<()> {
        let name = format!("segment-{:05}.m4s", segment.sequence_number);
        let path = self.dir.join(&name);
        // One decision per segment: its data before the rename, then the playlist and
        // the directory (the new names).
        let sync = self.fsync.due();
        write_segment_file(&path, &segment.parts, sync)?;
        self.segments
            .push((name, segment.init_number, segment.duration));
        let listed = match self.mode {
            HlsMode::Live => self.write(false, sync),
            HlsMode::Vod if sync => sync_dir(&self.dir),
            HlsMode::Vod => Ok(()),
        };
        if let Err(e) = listed {
            // Not listed, so not kept: the directory holds only listed segments.
            self.segments.pop();
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        for (total, &n) in self.samples.iter_mut().zip(&segment.samples) {
            *total += u64::from(n);
        }
        let (video, audio) = frames_by_kind(&self.tracks, &self.samples);
        tracing::debug!(
            segment = %path.display(),
            segments = self.segments.len(),
            video_frames = video,
            audio_frames = audio,
            "segment written"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use media_core::Codec;

    fn playlist(dir: &std::path::Path) -> Playlist {
        let track = Track::audio(Codec::Mp3, 44100, 2);
        Playlist {
            dir: dir.to_owned(),
            name: "index.m3u8".into(),
            mode: HlsMode::Live,
            inits: Vec::new(),
            segments: Vec::new(),
            fsync: FsyncSchedule::new(bmff_writer::FsyncPolicy::EachFragment),
            tracks: vec![track],
            samples: vec![0],
        }
    }

    fn segment(sequence_number: u32) -> MediaSegment {
        let parts = vec![Bytes::from_static(b"moof"), Bytes::from_static(b"mdat")];
        let mut segment = MediaSegment::new(sequence_number, 1, parts);
        segment.duration = 1.0;
        segment.starts_with_keyframe = true;
        segment.samples = vec![1];
        segment
    }

    fn files(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_new_init_segment_comes_after_a_discontinuity() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = playlist(dir.path());
        p.init_segment(&InitSegment::new(1, Bytes::from_static(b"ftypmoov")))
            .unwrap();
        p.media_segment(&segment(1)).unwrap();
        p.init_segment(&InitSegment::new(2, Bytes::from_static(b"ftypmoov")))
            .unwrap();
        let mut second = segment(2);
        second.init_number = 2;
        p.media_segment(&second).unwrap();
        let text = p.text(true);
        let body: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("#EXT-X-MAP"))
            .collect();
        assert_eq!(
            body,
            [
                "#EXT-X-MAP:URI=\"init.mp4\"",
                "#EXTINF:1.000000,",
                "segment-00001.m4s",
                "#EXT-X-DISCONTINUITY",
                "#EXT-X-MAP:URI=\"init-2.mp4\"",
                "#EXTINF:1.000000,",
                "segment-00002.m4s",
                "#EXT-X-ENDLIST",
            ]
        );
    }

    /// A playlist that cannot be rewritten (its temporary name is taken by a directory,
    /// a failure as certain as a full disk): the segment it would list is removed again.
    #[test]
    fn a_segment_the_playlist_cannot_list_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = playlist(dir.path());
        let init = InitSegment::new(1, Bytes::from_static(b"ftypmoov"));
        p.init_segment(&init).unwrap();
        p.media_segment(&segment(1)).unwrap();
        assert_eq!(
            files(dir.path()),
            ["index.m3u8", "init.mp4", "segment-00001.m4s"]
        );
        std::fs::create_dir(dir.path().join(".index.m3u8.tmp")).unwrap();
        assert!(p.media_segment(&segment(2)).is_err());
        assert_eq!(
            files(dir.path()),
            [
                ".index.m3u8.tmp",
                "index.m3u8",
                "init.mp4",
                "segment-00001.m4s"
            ]
        );
        let text = std::fs::read_to_string(dir.path().join("index.m3u8")).unwrap();
        assert!(text.contains("segment-00001.m4s") && !text.contains("segment-00002"));
        assert_eq!(p.segments.len(), 1);
    }

    #[test]
    fn leftovers_of_a_killed_recorder_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            ".segment-00007.m4s.tmp",
            ".init.mp4.tmp",
            ".index.m3u8.tmp",
            ".notes.txt.tmp",
            "segment-00001.m4s",
            "index.m3u8",
        ];
        for name in names {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        remove_leftovers(dir.path(), "index.m3u8");
        assert_eq!(
            files(dir.path()),
            [".notes.txt.tmp", "index.m3u8", "segment-00001.m4s"]
        );
    }
}
