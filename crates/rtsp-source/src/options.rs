//! What to connect to and how: [`RtspOptions`] and its policies.
//!
//! Every policy has the same spelling as retina's example client flags (`FromStr` and
//! `Display`), so command lines and config files can pass them through. Where a policy
//! exists to work around a camera bug, the variant's doc names the bug.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::Error;
use crate::url::{CameraUrl, Credentials};

/// The longest timeout or delay honoured; longer ones (e.g. `Duration::MAX` for "never")
/// are taken as this, so deadlines never overflow the clock.
pub const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Declares a policy enum with `FromStr`/`Display` on fixed spellings.
macro_rules! policy {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every accepted spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Error::InvalidOption {
                        name: stringify!($name),
                        value: s.to_owned(),
                        expected: Self::NAMES.join("|"),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $($name::$variant => $text,)+ })
            }
        }
    };
}

policy! {
    /// How RTP travels (RFC 2326 section 10.12).
    Transport {
        /// Interleaved on the RTSP TCP connection: no loss, no reordering, works through
        /// NAT. The default.
        #[default]
        Tcp = "tcp",
        /// Separate UDP ports. retina has no reorder buffer and sends no receiver
        /// reports: reordered packets count as lost. Good on a LAN only.
        Udp = "udp",
    }
}

policy! {
    /// How to read the `rtptime` the server reports in `RTP-Info` (RFC 2326 section 12.33).
    InitialTimestamp {
        /// Require it with more than one stream (for A/V sync), ignore it otherwise.
        #[default]
        Default = "default",
        /// Fail when it is missing.
        Require = "require",
        /// Ignore it: timestamps start at the first packet (OMNY cameras send bad values).
        Ignore = "ignore",
        /// Use it when all streams have it, else ignore it.
        Permissive = "permissive",
    }
}

policy! {
    /// When to send `TEARDOWN` (RFC 2326 section 10.7).
    Teardown {
        /// One attempt on the open TCP connection; retries for UDP and for old live555
        /// servers that keep streaming to dead sessions.
        #[default]
        Auto = "auto",
        /// Retry until it succeeds or the session expires.
        Always = "always",
        /// Never: the server times the session out.
        Never = "never",
    }
}

policy! {
    /// What to do with RTCP packets whose SSRC matches no stream (Tapo cameras send them).
    UnknownRtcpSsrc {
        /// Currently: drop them.
        #[default]
        Default = "default",
        /// End the session with an error.
        AbortSession = "abort-session",
        /// Drop them.
        DropPackets = "drop-packets",
        /// Process them as if the SSRC matched.
        ProcessPackets = "process-packets",
    }
}

policy! {
    /// What to do when the server returns a different session id on a later `SETUP`.
    SessionIdPolicy {
        /// Currently: require them to match.
        #[default]
        Default = "default",
        /// Fail when they differ.
        RequireMatch = "require-match",
        /// Keep the first one: for cameras that change it between SETUPs.
        UseFirst = "use-first",
    }
}

/// Which stream of one kind (video or audio) to record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pick {
    /// The first stream of this kind whose codec retina can depacketize. The default.
    #[default]
    FirstSupported,
    /// The first stream whose encoding name (lower case, as in SDP `a=rtpmap`: `h264`,
    /// `h265`, `jpeg`, `mpeg4-generic`, `pcma`...) is in this list, preferring earlier
    /// entries.
    Codecs(Vec<String>),
    /// The stream at this index among all streams of the SDP (0-based).
    Index(usize),
    /// None of this kind.
    Off,
}

impl FromStr for Pick {
    type Err = Error;

    /// `first`, `off`, `index:N` or a comma-separated codec list (`h265,h264`).
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidOption {
            name: "Pick",
            value: s.to_owned(),
            expected: "first|off|index:N|codec[,codec...]".into(),
        };
        match s {
            "first" => Ok(Pick::FirstSupported),
            "off" | "none" => Ok(Pick::Off),
            _ => {
                if let Some(n) = s.strip_prefix("index:") {
                    return n.parse().map(Pick::Index).map_err(|_| bad());
                }
                let codecs: Vec<String> = s
                    .split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty())
                    .collect();
                if codecs.is_empty() {
                    Err(bad())
                } else {
                    Ok(Pick::Codecs(codecs))
                }
            }
        }
    }
}

/// Which streams to set up: [`StreamSelection::new`], or the default (the first
/// supported of each kind), [`video_only`](StreamSelection::video_only),
/// [`audio_only`](StreamSelection::audio_only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamSelection {
    /// The video stream.
    pub video: Pick,
    /// The audio stream.
    pub audio: Pick,
}

impl StreamSelection {
    /// This video stream and this audio stream.
    pub fn new(video: Pick, audio: Pick) -> Self {
        StreamSelection { video, audio }
    }

    /// Video only (what Moonfire NVR records).
    pub fn video_only() -> Self {
        StreamSelection {
            video: Pick::FirstSupported,
            audio: Pick::Off,
        }
    }

    /// Audio only.
    pub fn audio_only() -> Self {
        StreamSelection {
            video: Pick::Off,
            audio: Pick::FirstSupported,
        }
    }
}

/// Everything about one camera connection.
///
/// `Debug` hides the password.
///
/// ```
/// use std::time::Duration;
/// use rtsp_source::{RtspOptions, Transport};
///
/// let options = RtspOptions::new("rtsp://admin:secret@192.0.2.7/stream1")?
///     .transport(Transport::Udp)
///     .idle_timeout(Duration::from_secs(10));
/// assert_eq!(options.to_string(), "rtsp://admin:***@192.0.2.7/stream1");
/// assert!(!format!("{options:?}").contains("secret"));
/// # Ok::<(), rtsp_source::Error>(())
/// ```
#[derive(Clone)]
pub struct RtspOptions {
    pub(crate) url: CameraUrl,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) transport: Transport,
    pub(crate) initial_timestamp: InitialTimestamp,
    pub(crate) teardown: Teardown,
    pub(crate) allow_loss: bool,
    pub(crate) unknown_rtcp_ssrc: UnknownRtcpSsrc,
    pub(crate) session_id: SessionIdPolicy,
    pub(crate) user_agent: String,
    pub(crate) selection: StreamSelection,
    pub(crate) open_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) teardown_timeout: Duration,
    pub(crate) wait_for_keyframe: bool,
    pub(crate) max_timestamp_jump: Option<u32>,
}

impl RtspOptions {
    /// Default user agent, sent with every request.
    pub const DEFAULT_USER_AGENT: &'static str = concat!("rtsp-source/", env!("CARGO_PKG_VERSION"));

    /// Options for `url`, which may carry `user:password@` (percent-encoded).
    pub fn new(url: &str) -> Result<Self, Error> {
        let url = CameraUrl::parse(url)?;
        let credentials = url.credentials().cloned();
        Ok(RtspOptions {
            url,
            credentials,
            transport: Transport::Tcp,
            initial_timestamp: InitialTimestamp::Default,
            teardown: Teardown::Auto,
            allow_loss: true,
            unknown_rtcp_ssrc: UnknownRtcpSsrc::Default,
            session_id: SessionIdPolicy::Default,
            user_agent: Self::DEFAULT_USER_AGENT.to_owned(),
            selection: StreamSelection::default(),
            open_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            teardown_timeout: Duration::from_secs(5),
            wait_for_keyframe: true,
            max_timestamp_jump: None,
        })
    }

    /// Credentials given apart from the URL; they replace any in the URL.
    pub fn credentials(mut self, username: &str, password: &str) -> Self {
        self.credentials = Some(Credentials::new(username, password));
        self
    }

    /// RTP transport (default TCP).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// How to read the initial `RTP-Info` timestamp.
    pub fn initial_timestamp(mut self, policy: InitialTimestamp) -> Self {
        self.initial_timestamp = policy;
        self
    }

    /// When to send `TEARDOWN`.
    pub fn teardown(mut self, policy: Teardown) -> Self {
        self.teardown = policy;
        self
    }

    /// Whether lost packets are a counted warning (`true`, the default, as NVRs do) or end
    /// the session with [`Error::PacketLoss`] (`false`, as retina's example does).
    ///
    /// Either way, a gap before a track's first packet (the server started after the
    /// sequence number it announced in `RTP-Info`, as gst-rtsp-server does) is not loss: it
    /// is only logged at debug level.
    pub fn allow_loss(mut self, allow: bool) -> Self {
        self.allow_loss = allow;
        self
    }

    /// What to do with RTCP from unknown SSRCs.
    pub fn unknown_rtcp_ssrc(mut self, policy: UnknownRtcpSsrc) -> Self {
        self.unknown_rtcp_ssrc = policy;
        self
    }

    /// What to do when the session id changes between SETUPs.
    pub fn session_id(mut self, policy: SessionIdPolicy) -> Self {
        self.session_id = policy;
        self
    }

    /// The `User-Agent` header (empty: none).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Which streams to set up.
    pub fn select(mut self, selection: StreamSelection) -> Self {
        self.selection = selection;
        self
    }

    /// Limit for connecting, DESCRIBE, SETUP and PLAY together (default 30 s).
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = timeout.min(MAX_WAIT);
        self
    }

    /// Longest wait for the next frame (default 30 s). When a server's source ends, the
    /// server keeps the session alive and answers keepalives, so without this limit the
    /// session would wait forever.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout.min(MAX_WAIT);
        self
    }

    /// Longest wait for `TEARDOWN` when closing (default 5 s).
    pub fn teardown_timeout(mut self, timeout: Duration) -> Self {
        self.teardown_timeout = timeout.min(MAX_WAIT);
        self
    }

    /// Whether video is held back until its first keyframe (default `true`); while it is,
    /// audio is held back too, so recordings start at a keyframe with audio alongside.
    pub fn wait_for_keyframe(mut self, wait: bool) -> Self {
        self.wait_for_keyframe = wait;
        self
    }

    /// Make retina reject timestamps that go backwards or jump forward by more than
    /// `secs` seconds (off by default: B-frame cameras and relays go backwards).
    pub fn max_timestamp_jump_secs(mut self, secs: Option<u32>) -> Self {
        self.max_timestamp_jump = secs.filter(|s| *s > 0);
        self
    }

    /// The camera URL (no credentials inside).
    pub fn url(&self) -> &CameraUrl {
        &self.url
    }

    /// The URL as shown in messages: `rtsp://user:***@host/path`.
    pub fn redacted_url(&self) -> String {
        self.url.redacted(self.credentials.as_ref())
    }

    /// The idle timeout in force.
    pub fn idle_timeout_value(&self) -> Duration {
        self.idle_timeout
    }

    /// The transport in force.
    pub fn transport_value(&self) -> Transport {
        self.transport
    }
}

impl fmt::Display for RtspOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_url())
    }
}

impl fmt::Debug for RtspOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtspOptions")
            .field("url", &self.redacted_url())
            .field("credentials", &self.credentials)
            .field("transport", &self.transport)
            .field("initial_timestamp", &self.initial_timestamp)
            .field("teardown", &self.teardown)
            .field("allow_loss", &self.allow_loss)
            .field("unknown_rtcp_ssrc", &self.unknown_rtcp_ssrc)
            .field("session_id", &self.session_id)
            .field("user_agent", &self.user_agent)
            .field("selection", &self.selection)
            .field("open_timeout", &self.open_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("teardown_timeout", &self.teardown_timeout)
            .field("wait_for_keyframe", &self.wait_for_keyframe)
            .field("max_timestamp_jump", &self.max_timestamp_jump)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip_their_names() {
        for name in Transport::NAMES {
            assert_eq!(&name.parse::<Transport>().unwrap().to_string(), name);
        }
        for name in InitialTimestamp::NAMES {
            assert_eq!(&name.parse::<InitialTimestamp>().unwrap().to_string(), name);
        }
        for name in Teardown::NAMES {
            assert_eq!(&name.parse::<Teardown>().unwrap().to_string(), name);
        }
        for name in UnknownRtcpSsrc::NAMES {
            assert_eq!(&name.parse::<UnknownRtcpSsrc>().unwrap().to_string(), name);
        }
        for name in SessionIdPolicy::NAMES {
            assert_eq!(&name.parse::<SessionIdPolicy>().unwrap().to_string(), name);
        }
        let e = "sctp".parse::<Transport>().unwrap_err().to_string();
        assert!(e.contains("tcp|udp"), "{e}");
    }

    #[test]
    fn huge_timeouts_are_capped() {
        let o = RtspOptions::new("rtsp://cam/x")
            .unwrap()
            .idle_timeout(Duration::MAX)
            .open_timeout(Duration::MAX)
            .teardown_timeout(Duration::MAX);
        assert_eq!(o.idle_timeout_value(), MAX_WAIT);
        assert_eq!((o.open_timeout, o.teardown_timeout), (MAX_WAIT, MAX_WAIT));
    }

    #[test]
    fn picks_parse() {
        assert_eq!("first".parse::<Pick>().unwrap(), Pick::FirstSupported);
        assert_eq!("off".parse::<Pick>().unwrap(), Pick::Off);
        assert_eq!("index:2".parse::<Pick>().unwrap(), Pick::Index(2));
        assert_eq!(
            "H265, h264".parse::<Pick>().unwrap(),
            Pick::Codecs(vec!["h265".into(), "h264".into()])
        );
        assert!("index:x".parse::<Pick>().is_err());
        assert!(",".parse::<Pick>().is_err());
    }

    #[test]
    fn separate_credentials_replace_url_ones_and_stay_hidden() {
        let o = RtspOptions::new("rtsp://a:hunter1@cam/x")
            .unwrap()
            .credentials("b", "hunter2");
        assert_eq!(o.to_string(), "rtsp://b:***@cam/x");
        let dbg = format!("{o:?}");
        assert!(
            !dbg.contains("hunter1") && !dbg.contains("hunter2"),
            "{dbg}"
        );
        assert_eq!(o.credentials.as_ref().unwrap().password, "hunter2");
    }
}
