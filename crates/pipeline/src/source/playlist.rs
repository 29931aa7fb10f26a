//! HLS as input (RFC 8216), a local media playlist: with fMP4 segments, the `EXT-X-MAP`
//! init segment and the media segments, read as one fragmented MP4 (the init segment's
//! `ftyp`/`moov`, then each segment's `styp`/`sidx`/`moof`/`mdat`), which is what they
//! are once concatenated (RFC 8216 §3.3); without `EXT-X-MAP`, MPEG-TS segments (ffmpeg's
//! default and most live streams) or packed audio (ADTS AAC or MP3 segments, each after
//! an ID3 tag with its timestamp, §3.4: radio), read as one stream, which is what they
//! are once concatenated too (§3.2; the TS reader re-bases the timestamps of an
//! `EXT-X-DISCONTINUITY`), its format told by its first bytes.
//!
//! Only what a media playlist needs is read: `#EXT-X-MAP:URI=` and the segment lines;
//! other tags are skipped. An `EXT-X-MAP` naming another initialization segment applies
//! to the segments after it (§4.3.2.5; a change of encoding, such as our own HLS output
//! after a splice to another picture size): it takes its place in the concatenation, and
//! the stream reader follows the new `moov` (`stream.rs`); the same map named again is
//! no change. Segment URIs are paths relative to the playlist; a URL with a scheme
//! (`http://…`) is refused, as are byte-range segments, a master playlist, and a map
//! after MPEG-TS segments.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, watch};

use super::{FileSender, byte_stream, mp4};
use crate::Error;
use crate::contract::InputEvent;

/// Reads an HLS media playlist: fMP4 segments as one fragmented MP4 (as a stream when an
/// init segment changes on the way), other segments as one stream whose first bytes tell
/// its format (MPEG-TS, packed audio).
pub(crate) async fn run(
    path: PathBuf,
    track_ids: Vec<u32>,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let name = path.display().to_string();
    super::on_reader_thread("HLS".into(), move || match files(&path)? {
        Segments::Fmp4 { files, inits } => {
            let (joined, len) = Concatenation::open(&files)?;
            let mut sender = FileSender::new(tx);
            let mut emit = |event| !*stop.borrow() && sender.send(event);
            mp4::read_segments(name, joined, len, &track_ids, inits > 1, &mut emit)
        }
        Segments::Joined(files) => {
            let (joined, _) = Concatenation::open(&files)?;
            byte_stream::read(&name, joined, FileSender::new(tx), &stop)
        }
    })
    .await
}

/// The files of a playlist.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Segments {
    /// fMP4: the init segment first, then the media segments, each later init segment
    /// before the segments it applies to.
    Fmp4 {
        files: Vec<PathBuf>,
        /// More than one init segment: the files must be read as a stream.
        inits: usize,
    },
    /// MPEG-TS or packed audio segments, read as one stream.
    Joined(Vec<PathBuf>),
}

/// The files of a playlist.
pub(crate) fn files(playlist: &Path) -> Result<Segments, Error> {
    let name = playlist.display().to_string();
    let invalid = |reason: String| Error::Input {
        input: name.clone(),
        reason,
    };
    let text =
        std::fs::read_to_string(playlist).map_err(|e| Error::io(format!("reading {name}"), e))?;
    if !text.trim_start().starts_with("#EXTM3U") {
        return Err(invalid("not an HLS playlist (no #EXTM3U first)".into()));
    }
    let base = playlist.parent().unwrap_or(Path::new("."));
    let local = |uri: &str| -> Result<PathBuf, Error> {
        if uri.contains("://") {
            return Err(invalid(format!(
                "{uri}: only local segment files can be read"
            )));
        }
        Ok(base.join(uri))
    };
    let mut init: Option<PathBuf> = None;
    let mut inits = 0;
    let mut segments = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("#EXT-X-BYTERANGE") || line.contains("BYTERANGE=") {
            // Ranges of one file: reading the whole file per line would repeat data.
            return Err(invalid(
                "byte-range segments (EXT-X-BYTERANGE) are not supported".into(),
            ));
        }
        if let Some(attributes) = line.strip_prefix("#EXT-X-MAP:") {
            let uri = attribute(attributes, "URI")
                .ok_or_else(|| invalid("EXT-X-MAP without a URI".into()))?;
            let path = local(&uri)?;
            if init.as_ref() == Some(&path) {
                continue;
            }
            if init.is_none() && !segments.is_empty() {
                return Err(invalid(
                    "an EXT-X-MAP after segments without one (one playlist, two formats)".into(),
                ));
            }
            inits += 1;
            segments.push(path.clone());
            init = Some(path);
        } else if line.starts_with("#EXT-X-STREAM-INF") {
            return Err(invalid(
                "a master playlist: give one of its media playlists".into(),
            ));
        } else if !line.is_empty() && !line.starts_with('#') {
            segments.push(local(line)?);
        }
    }
    if segments.len() == inits {
        Err(invalid("no segments".into()))
    } else if inits == 0 {
        Ok(Segments::Joined(segments))
    } else {
        Ok(Segments::Fmp4 {
            files: segments,
            inits,
        })
    }
}

/// The value of `name` in an attribute list (`URI="init.mp4",BYTERANGE=…`).
fn attribute(list: &str, name: &str) -> Option<String> {
    let start = list.find(&format!("{name}="))? + name.len() + 1;
    let rest = &list[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next().map(str::to_owned),
        None => rest.split(',').next().map(str::to_owned),
    }
}

/// Several files read as one: what the MP4 or TS reader sees of a playlist.
pub(crate) struct Concatenation {
    files: Vec<(File, u64)>,
    /// Position in the whole.
    position: u64,
}

impl Concatenation {
    pub(crate) fn open(paths: &[PathBuf]) -> Result<(Concatenation, u64), Error> {
        let mut files = Vec::with_capacity(paths.len());
        let mut total = 0u64;
        for path in paths {
            let file = File::open(path)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            let len = file
                .metadata()
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
                .len();
            total += len;
            files.push((file, len));
        }
        Ok((Concatenation { files, position: 0 }, total))
    }
}

impl Read for Concatenation {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut start = 0u64;
        for (file, len) in &mut self.files {
            if self.position < start + *len {
                file.seek(SeekFrom::Start(self.position - start))?;
                let left = usize::try_from(start + *len - self.position).unwrap_or(usize::MAX);
                let wanted = buf.len().min(left);
                let n = file.read(&mut buf[..wanted])?;
                self.position += n as u64;
                return Ok(n);
            }
            start += *len;
        }
        Ok(0)
    }
}

impl Seek for Concatenation {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let total: u64 = self.files.iter().map(|f| f.1).sum();
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => total.checked_add_signed(d),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
        };
        self.position = target.ok_or_else(|| io::Error::other("seek before the start"))?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_name_their_files_or_what_is_refused() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let good = write(
            "good.m3u8",
            "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\nseg1.m4s\n#EXTINF:2,\nseg2.m4s\n",
        );
        let got = files(&good).unwrap();
        assert_eq!(
            got,
            Segments::Fmp4 {
                files: vec![
                    dir.join("init.mp4"),
                    dir.join("seg1.m4s"),
                    dir.join("seg2.m4s")
                ],
                inits: 1
            }
        );
        // A map named before every segment is one map; another one takes its place.
        let changing = write(
            "changing.m3u8",
            "#EXTM3U\n#EXT-X-MAP:URI=\"i1.mp4\"\na.m4s\n#EXT-X-MAP:URI=\"i1.mp4\"\nb.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"i2.mp4\"\nc.m4s\n",
        );
        assert_eq!(
            files(&changing).unwrap(),
            Segments::Fmp4 {
                files: ["i1.mp4", "a.m4s", "b.m4s", "i2.mp4", "c.m4s"]
                    .map(|f| dir.join(f))
                    .to_vec(),
                inits: 2
            }
        );
        let ts = write(
            "ts.m3u8",
            "#EXTM3U\n#EXTINF:2,\nseg0.ts\n#EXT-X-DISCONTINUITY\nseg1.ts\n",
        );
        assert_eq!(
            files(&ts).unwrap(),
            Segments::Joined(vec![dir.join("seg0.ts"), dir.join("seg1.ts")])
        );
        for (name, text, says) in [
            (
                "ranges.m3u8",
                "#EXTM3U\n#EXT-X-MAP:URI=\"a.mp4\"\n#EXT-X-BYTERANGE:10@0\na.mp4\n",
                "byte-range",
            ),
            (
                "remote.m3u8",
                "#EXTM3U\n#EXT-X-MAP:URI=\"http://x/i.mp4\"\n",
                "only local",
            ),
            ("empty.m3u8", "#EXTM3U\n#EXT-X-ENDLIST\n", "no segments"),
            (
                "init-only.m3u8",
                "#EXTM3U\n#EXT-X-MAP:URI=\"i.mp4\"\n#EXT-X-ENDLIST\n",
                "no segments",
            ),
            (
                "mixed.m3u8",
                "#EXTM3U\na.ts\n#EXT-X-MAP:URI=\"i.mp4\"\nb.m4s\n",
                "without one",
            ),
            (
                "master.m3u8",
                "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n",
                "master",
            ),
            ("text.m3u8", "hello", "not an HLS playlist"),
        ] {
            let err = files(&write(name, text)).unwrap_err().to_string();
            assert!(err.contains(says) && err.contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn attributes_quoted_or_not() {
        assert_eq!(
            attribute(r#"URI="init.mp4",BYTERANGE="10@0""#, "URI").as_deref(),
            Some("init.mp4")
        );
        assert_eq!(
            attribute("BYTERANGE=1,URI=x.mp4", "URI").as_deref(),
            Some("x.mp4")
        );
        assert_eq!(attribute("BYTERANGE=1", "URI"), None);
    }
}
