//! Choosing which SDP streams (RFC 8866 media descriptions) to `SETUP`.
//!
//! Sans-I/O: works on [`Offer`]s, a neutral summary of what `DESCRIBE` returned, so the
//! rules are tested without a server.

use crate::options::{Pick, StreamSelection};
use crate::track::{Codec, MediaKind, SkippedStream};

/// One stream of the SDP, as far as selection cares ([`Offer::new`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Offer {
    /// Index in the SDP.
    pub index: usize,
    /// SDP media: `video`, `audio`, `application`...
    pub media: String,
    /// Lower-case encoding name.
    pub encoding_name: String,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Whether retina already has codec parameters for it (always true for the audio
    /// codecs retina supports, whose depacketizer is built from the SDP).
    pub has_parameters: bool,
}

impl Offer {
    /// Stream `index` of the SDP: its media (`video`, `audio`...), encoding name (lower
    /// case) and RTP clock rate, with codec parameters known (set `has_parameters`
    /// otherwise).
    pub fn new(
        index: usize,
        media: impl Into<String>,
        encoding_name: impl Into<String>,
        clock_rate: u32,
    ) -> Self {
        Offer {
            index,
            media: media.into(),
            encoding_name: encoding_name.into(),
            clock_rate,
            has_parameters: true,
        }
    }

    /// Whether retina can depacketize this stream, or why not.
    pub fn support(&self) -> Result<Codec, String> {
        let Some(codec) = Codec::from_encoding_name(&self.media, &self.encoding_name) else {
            return Err(format!(
                "retina has no depacketizer for {}/{}",
                self.media, self.encoding_name
            ));
        };
        match codec {
            Codec::H264 | Codec::H265 if self.clock_rate != 90_000 => Err(format!(
                "{}/{} with clock rate {} (must be 90000)",
                self.media, self.encoding_name, self.clock_rate
            )),
            // Audio depacketizers are built from the SDP; no parameters means the SDP
            // was refused (e.g. AAC without a config).
            _ if codec.kind() == MediaKind::Audio && !self.has_parameters => Err(format!(
                "{}/{}: retina could not read its SDP parameters",
                self.media, self.encoding_name
            )),
            _ => Ok(codec),
        }
    }

    fn kind(&self) -> Option<MediaKind> {
        match self.media.as_str() {
            "video" | "image" => Some(MediaKind::Video),
            "audio" => Some(MediaKind::Audio),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self.support() {
            Ok(_) => format!("{}/{}", self.media, self.encoding_name),
            Err(why) => format!("{}/{} ({why})", self.media, self.encoding_name),
        }
    }
}

/// The outcome of selection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Selected {
    /// Chosen streams: `(sdp index, codec)`, video first, then audio.
    pub chosen: Vec<(usize, Codec)>,
    /// Every other stream, with the reason.
    pub skipped: Vec<SkippedStream>,
}

/// Applies `selection` to `offers`. Fails (with a list of what is offered) when nothing is
/// chosen.
pub fn select(offers: &[Offer], selection: &StreamSelection) -> Result<Selected, String> {
    let mut chosen = Vec::new();
    let mut reasons: Vec<Option<String>> = vec![None; offers.len()];
    for (kind, pick) in [
        (MediaKind::Video, &selection.video),
        (MediaKind::Audio, &selection.audio),
    ] {
        let of_kind = || offers.iter().filter(move |o| o.kind() == Some(kind));
        let found = match pick {
            Pick::Off => None,
            Pick::FirstSupported => of_kind().find(|o| o.support().is_ok()),
            Pick::Codecs(names) => names
                .iter()
                .find_map(|n| of_kind().find(|o| &o.encoding_name == n && o.support().is_ok())),
            Pick::Index(i) => of_kind().find(|o| o.index == *i && o.support().is_ok()),
        };
        if let Some(o) = found
            && let Ok(codec) = o.support()
        {
            chosen.push((o.index, codec));
        }
        let label = match kind {
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
        };
        for (slot, o) in reasons.iter_mut().zip(offers) {
            if o.kind() != Some(kind) || found.is_some_and(|f| f.index == o.index) {
                continue;
            }
            *slot = Some(match (o.support(), pick) {
                (Err(why), _) => why,
                (Ok(_), Pick::Off) => format!("{label} is not selected"),
                (Ok(_), _) if found.is_some() => format!("another {label} stream was chosen"),
                (Ok(_), _) => format!("does not match the {label} selection {pick:?}"),
            });
        }
    }
    if chosen.is_empty() {
        let offered: Vec<String> = offers.iter().map(Offer::describe).collect();
        return Err(if offered.is_empty() {
            "no streams".to_owned()
        } else {
            offered.join(", ")
        });
    }
    let skipped = offers
        .iter()
        .zip(reasons)
        .filter(|(o, _)| !chosen.iter().any(|(i, _)| *i == o.index))
        .map(|(o, reason)| SkippedStream {
            stream_index: o.index,
            media: o.media.clone(),
            encoding_name: o.encoding_name.clone(),
            reason: reason.unwrap_or_else(|| format!("{} streams are not recorded", o.media)),
            supported: o.support().is_ok(),
        })
        .collect();
    Ok(Selected { chosen, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(index: usize, media: &str, name: &str, clock: u32) -> Offer {
        Offer {
            index,
            media: media.into(),
            encoding_name: name.into(),
            clock_rate: clock,
            has_parameters: media == "audio",
        }
    }

    fn cam() -> Vec<Offer> {
        vec![
            offer(0, "video", "h264", 90_000),
            offer(1, "audio", "opus", 48_000),
            offer(2, "audio", "pcma", 8_000),
            offer(3, "application", "vnd.onvif.metadata", 90_000),
            offer(4, "video", "h265", 90_000),
        ]
    }

    #[test]
    fn first_supported_of_each_kind() {
        let s = select(&cam(), &StreamSelection::default()).unwrap();
        assert_eq!(s.chosen, vec![(0, Codec::H264), (2, Codec::Pcma)]);
        let opus = s.skipped.iter().find(|k| k.stream_index == 1).unwrap();
        assert!(opus.reason.contains("no depacketizer"), "{}", opus.reason);
        assert!(!opus.supported);
        let h265 = s.skipped.iter().find(|k| k.stream_index == 4).unwrap();
        assert_eq!(h265.reason, "another video stream was chosen");
        assert!(h265.supported);
        let meta = s.skipped.iter().find(|k| k.stream_index == 3).unwrap();
        assert!(meta.reason.contains("application"), "{}", meta.reason);
    }

    #[test]
    fn by_codec_preference_and_index() {
        let sel = StreamSelection {
            video: Pick::Codecs(vec!["h265".into(), "h264".into()]),
            audio: Pick::Off,
        };
        let s = select(&cam(), &sel).unwrap();
        assert_eq!(s.chosen, vec![(4, Codec::H265)]);
        assert!(
            s.skipped
                .iter()
                .any(|k| k.reason == "audio is not selected")
        );
        let sel = StreamSelection {
            video: Pick::Index(4),
            audio: Pick::Index(2),
        };
        assert_eq!(
            select(&cam(), &sel).unwrap().chosen,
            vec![(4, Codec::H265), (2, Codec::Pcma)]
        );
    }

    #[test]
    fn nothing_supported_is_an_error_listing_the_offer() {
        let offers = vec![offer(0, "audio", "opus", 48_000)];
        let e = select(&offers, &StreamSelection::default()).unwrap_err();
        assert!(e.contains("audio/opus (retina has no depacketizer"), "{e}");
        let e = select(&[], &StreamSelection::default()).unwrap_err();
        assert_eq!(e, "no streams");
        // Wanting only an unsupported codec fails too.
        let sel = StreamSelection {
            video: Pick::Codecs(vec!["vp8".into()]),
            audio: Pick::Off,
        };
        assert!(select(&cam(), &sel).is_err());
    }

    #[test]
    fn h264_needs_90khz_and_audio_needs_parameters() {
        let mut o = offer(0, "video", "h264", 8_000);
        assert!(o.support().unwrap_err().contains("90000"));
        o = offer(0, "audio", "mpeg4-generic", 48_000);
        o.has_parameters = false;
        assert!(o.support().is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_offer() -> impl Strategy<Value = (String, String, u32, bool)> {
            (
                prop::sample::select(vec!["video", "audio", "image", "application", ""]),
                prop::sample::select(vec![
                    "h264",
                    "h265",
                    "jpeg",
                    "mpeg4-generic",
                    "pcma",
                    "pcmu",
                    "opus",
                    "vp8",
                    "l16",
                ]),
                prop::sample::select(vec![0u32, 8_000, 48_000, 90_000]),
                any::<bool>(),
            )
                .prop_map(|(m, e, c, p)| (m.to_owned(), e.to_owned(), c, p))
        }

        fn any_pick() -> impl Strategy<Value = Pick> {
            prop_oneof![
                Just(Pick::FirstSupported),
                Just(Pick::Off),
                (0usize..8).prop_map(Pick::Index),
                prop::collection::vec(
                    prop::sample::select(vec!["h264", "h265", "pcma", "opus", "x"]),
                    0..3
                )
                .prop_map(|v| Pick::Codecs(v.into_iter().map(str::to_owned).collect())),
            ]
        }

        proptest! {
            /// Whatever the SDP offers: at most one stream per kind, only supported ones,
            /// every other stream accounted for with a reason.
            #[test]
            fn selection_is_sound(
                raw in prop::collection::vec(any_offer(), 0..8),
                video in any_pick(),
                audio in any_pick(),
            ) {
                let offers: Vec<Offer> = raw
                    .into_iter()
                    .enumerate()
                    .map(|(index, (media, encoding_name, clock_rate, has_parameters))| Offer {
                        index, media, encoding_name, clock_rate, has_parameters,
                    })
                    .collect();
                match select(&offers, &StreamSelection { video, audio }) {
                    Ok(s) => {
                        prop_assert!(!s.chosen.is_empty());
                        for (i, codec) in &s.chosen {
                            prop_assert_eq!(offers[*i].support(), Ok(*codec));
                        }
                        let kinds: Vec<MediaKind> = s.chosen.iter().map(|(_, c)| c.kind()).collect();
                        prop_assert!(kinds.len() <= 2 && (kinds.len() < 2 || kinds[0] != kinds[1]));
                        prop_assert_eq!(s.chosen.len() + s.skipped.len(), offers.len());
                        prop_assert!(s.skipped.iter().all(|k| !k.reason.is_empty()));
                    }
                    Err(listing) => prop_assert!(!listing.is_empty()),
                }
            }
        }
    }
}
