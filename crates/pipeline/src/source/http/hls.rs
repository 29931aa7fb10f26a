//! HLS over HTTP (RFC 8216), parsed by `m3u8-rs`: a master playlist's highest-bandwidth
//! variant (named in a log line), then its media playlist's segments in order, as one
//! stream, which is what they are once concatenated: MPEG-TS (§3.2; the TS reader
//! re-bases the times of an `EXT-X-DISCONTINUITY`) or fragmented MP4 after the
//! `EXT-X-MAP` initialization segment, fetched once and again when the map changes
//! (§4.3.2.5; the MP4 stream reader follows a new `moov` with the same tracks).
//!
//! A live playlist (no `EXT-X-ENDLIST`) starts three segments from its end (§6.3.3: no
//! closer) and is reloaded after a target duration, or half of one when it brought no new
//! segment (§6.3.4); segments that left the playlist before they were read are counted in
//! a warning. A live playlist that stops growing for ten target durations ends the input
//! with one line. Not read (one line each): encrypted segments (`EXT-X-KEY`), byte
//! ranges.

use std::time::Duration;

use bytes::Bytes;
use m3u8_rs::{MediaPlaylist, Playlist};
use tokio::sync::mpsc;
use url::Url;

use super::{Finite, forward, get, playlist_text};
use crate::Error;

/// Segments a live playlist is started from its end.
const LIVE_START: usize = 3;
/// Target durations without a new segment after which a live playlist counts as ended.
const STALLED: u64 = 10;

pub(super) async fn run(
    client: &reqwest::Client,
    url: Url,
    text: String,
    name: &str,
    out: &mpsc::Sender<std::io::Result<Bytes>>,
) -> Result<Finite, Error> {
    let invalid = |reason: String| Error::Input {
        input: name.to_owned(),
        reason,
    };
    let (mut url, mut playlist) = match parse(&text, name)? {
        Playlist::MediaPlaylist(media) => (url, media),
        Playlist::MasterPlaylist(master) => {
            let variant = master
                .variants
                .iter()
                .filter(|v| !v.is_i_frame)
                .max_by_key(|v| v.bandwidth)
                .ok_or_else(|| invalid("a master playlist without variants".into()))?;
            let variant_url = url
                .join(&variant.uri)
                .map_err(|e| invalid(format!("variant URI: {e}")))?;
            tracing::info!(
                input = %name,
                bandwidth = variant.bandwidth,
                resolution = ?variant.resolution.map(|r| format!("{}x{}", r.width, r.height)),
                variants = master.variants.len(),
                "HLS: reading the highest-bandwidth variant"
            );
            let (variant_url, text) = fetch_playlist(client, &variant_url, name).await?;
            match parse(&text, name)? {
                Playlist::MediaPlaylist(media) => (variant_url, media),
                Playlist::MasterPlaylist(_) => {
                    return Err(invalid(
                        "a master playlist's variant is a master playlist".into(),
                    ));
                }
            }
        }
    };
    let first = playlist.media_sequence;
    let mut next = if playlist.end_list {
        first
    } else {
        first + playlist.segments.len().saturating_sub(LIVE_START) as u64
    };
    let mut stalled_since = tokio::time::Instant::now();
    let mut sent_map: Option<Url> = None;
    loop {
        check(&playlist, name)?;
        if next < playlist.media_sequence {
            tracing::warn!(
                input = %name,
                missed = playlist.media_sequence - next,
                "HLS: segments left the live playlist before they were read"
            );
            next = playlist.media_sequence;
        }
        let mut new = false;
        // The map in force: the last one before a segment, read or not (a live playlist
        // names it once, before its first segment, which we may not read).
        let mut map = None;
        for (i, segment) in playlist.segments.iter().enumerate() {
            let sequence = playlist.media_sequence + i as u64;
            if let Some(m) = &segment.map {
                map = Some(
                    url.join(&m.uri)
                        .map_err(|e| invalid(format!("map URI: {e}")))?,
                );
            }
            if sequence < next {
                continue;
            }
            if map != sent_map {
                if map.is_none() {
                    return Err(invalid(
                        "segments without an EXT-X-MAP after fMP4 ones (one playlist, two formats)"
                            .into(),
                    ));
                }
                // A new one is forwarded too: the MP4 stream reader follows a new `moov`
                // with the same tracks (`source/mp4/stream.rs`).
                if let Some(init) = &map {
                    tracing::debug!(input = %name, "HLS initialization segment");
                    if !forward(get(client, init.as_str(), name).await?, name, out).await? {
                        return Ok(Finite(false));
                    }
                }
                sent_map = map.clone();
            }
            let segment_url = url
                .join(&segment.uri)
                .map_err(|e| invalid(format!("segment URI: {e}")))?;
            tracing::debug!(input = %name, sequence, "HLS segment");
            let response = get(client, segment_url.as_str(), name).await?;
            if !forward(response, name, out).await? {
                return Ok(Finite(false)); // the reader is done
            }
            next = sequence + 1;
            new = true;
        }
        if playlist.end_list {
            return Ok(Finite(true));
        }
        let target = Duration::from_secs(playlist.target_duration.max(1));
        if new {
            stalled_since = tokio::time::Instant::now();
        } else if stalled_since.elapsed() > target * STALLED as u32 {
            return Err(invalid(format!(
                "the live playlist brought no segment for {} s",
                stalled_since.elapsed().as_secs()
            )));
        }
        tokio::time::sleep(if new { target } else { target / 2 }).await;
        // Segments are relative to where the playlist is now (a server may redirect).
        let (at, text) = fetch_playlist(client, &url, name).await?;
        url = at;
        playlist = match parse(&text, name)? {
            Playlist::MediaPlaylist(media) => media,
            Playlist::MasterPlaylist(_) => {
                return Err(invalid(
                    "the media playlist became a master playlist".into(),
                ));
            }
        };
    }
}

fn parse(text: &str, name: &str) -> Result<Playlist, Error> {
    if !text.trim_start().starts_with("#EXTM3U") {
        return Err(Error::Input {
            input: name.to_owned(),
            reason: "not an HLS playlist (no #EXTM3U first)".into(),
        });
    }
    m3u8_rs::parse_playlist_res(text.as_bytes()).map_err(|e| Error::Input {
        input: name.to_owned(),
        reason: format!("not a readable HLS playlist: {e:?}")
            .chars()
            .take(200)
            .collect(),
    })
}

/// What this reader cannot follow, said before any of it is read.
fn check(playlist: &MediaPlaylist, name: &str) -> Result<(), Error> {
    let refuse = |reason: &str| {
        Err(Error::Input {
            input: name.to_owned(),
            reason: reason.to_owned(),
        })
    };
    for segment in &playlist.segments {
        if segment
            .key
            .as_ref()
            .is_some_and(|k| k.method != m3u8_rs::KeyMethod::None)
        {
            return refuse("encrypted segments (EXT-X-KEY) are not read");
        }
        if segment.byte_range.is_some() {
            return refuse("byte-range segments (EXT-X-BYTERANGE) are not read");
        }
    }
    Ok(())
}

/// The playlist at `url`: where it was found (after redirects) and its text.
async fn fetch_playlist(
    client: &reqwest::Client,
    url: &Url,
    name: &str,
) -> Result<(Url, String), Error> {
    let response = get(client, url.as_str(), name).await?;
    let at = response.url().clone();
    Ok((at, playlist_text(Bytes::new(), response, name).await?))
}
