//! RTP datagrams sent in batches (feature `udp`). Consecutive datagrams to one
//! destination, all of one size except a shorter last one, go out in one `sendmsg` with UDP
//! generic segmentation offload (Linux `UDP_SEGMENT`, udp(7)), so the system call, the
//! route lookup and the socket's locking happen once per batch instead of once per RTP
//! packet. A frame's RTP packets to one receiver are such a run: a packetizer cuts a frame
//! into packets of one size and a shorter last one (SRTP adds the same tag to each).
//!
//! [`DatagramBatch`] is the sans-I/O part (which datagrams may share a send);
//! [`BatchSender`] sends a batch on a non-blocking socket through quinn-udp (the `sendmsg`
//! and its control message; this workspace has no unsafe code); [`Outbox`] is the two
//! together for one sender of datagrams. Where the kernel has no UDP
//! GSO, or a send with it fails (some drivers answer EIO or EINVAL; quinn-udp then turns
//! it off for every later batch), the batch's datagrams go out one by one as before.

use std::net::SocketAddr;
use std::sync::Arc;

use quinn_udp::{Transmit, UdpSocketState};
use std::net::UdpSocket;

/// Bytes of one batch at most: the segments travel as one UDP datagram of at most 64 KiB
/// to the kernel (IPv4 and IPv6 headers included).
pub const MAX_BATCH_BYTES: usize = 64_000;

/// Datagrams that may go out in one segmented send.
#[derive(Debug)]
pub struct DatagramBatch {
    contents: Vec<u8>,
    destination: Option<SocketAddr>,
    /// The size of every segment but the last (that of the first datagram).
    segment: usize,
    count: usize,
    /// A datagram shorter than `segment` ended the run.
    short_tail: bool,
    max_segments: usize,
}

impl DatagramBatch {
    /// An empty batch of at most `max_segments` datagrams (1: every datagram alone).
    pub fn new(max_segments: usize) -> DatagramBatch {
        DatagramBatch {
            contents: Vec::with_capacity(MAX_BATCH_BYTES),
            destination: None,
            segment: 0,
            count: 0,
            short_tail: false,
            max_segments: max_segments.max(1),
        }
    }

    /// Adds `datagram` if it continues the run (or the batch is empty); `false` means the
    /// batch must be sent and cleared first.
    pub fn try_push(&mut self, destination: SocketAddr, datagram: &[u8]) -> bool {
        if self.count == 0 {
            self.contents.extend_from_slice(datagram);
            self.destination = Some(destination);
            self.segment = datagram.len();
            self.count = 1;
            return true;
        }
        let fits = self.destination == Some(destination)
            && !self.short_tail
            && self.segment > 0
            && !datagram.is_empty()
            && datagram.len() <= self.segment
            && self.count < self.max_segments
            && self.contents.len() + datagram.len() <= MAX_BATCH_BYTES;
        if fits {
            self.contents.extend_from_slice(datagram);
            self.short_tail = datagram.len() < self.segment;
            self.count += 1;
        }
        fits
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Empties the batch; `max_segments` as for [`DatagramBatch::new`].
    pub fn clear(&mut self, max_segments: usize) {
        self.contents.clear();
        self.destination = None;
        self.count = 0;
        self.short_tail = false;
        self.max_segments = max_segments.max(1);
    }

    /// The segment size for a segmented send (`None` with one datagram or none).
    pub fn segment_size(&self) -> Option<usize> {
        (self.count > 1).then_some(self.segment)
    }

    /// The datagrams, one by one.
    pub fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        let size = if self.count > 1 {
            self.segment
        } else {
            self.contents.len()
        };
        // `chunks` gives nothing of an empty datagram, which is still one to send.
        let empty = (self.count == 1 && self.contents.is_empty()).then_some(&self.contents[..]);
        self.contents.chunks(size.max(1)).chain(empty)
    }
}

/// Sends batches: segmented where the kernel can, one datagram per send otherwise.
#[derive(Debug, Clone, Default)]
pub struct BatchSender {
    /// quinn-udp's view of what the kernel can do (made once from a probe socket: the
    /// sessions' sockets keep their plain options, no UDP GRO on receive); `None` when
    /// it could not be made, or segmentation is off.
    udp: Option<Arc<UdpSocketState>>,
}

impl BatchSender {
    /// Probes the kernel for UDP GSO (a socket bound to `local`'s address for a moment).
    pub fn probe(local: SocketAddr) -> BatchSender {
        let udp = std::net::UdpSocket::bind(SocketAddr::new(local.ip(), 0))
            .and_then(|probe| UdpSocketState::new((&probe).into()))
            .map(Arc::new)
            .inspect_err(|e| tracing::debug!("no UDP segmentation offload: {e}"))
            .ok();
        BatchSender { udp }
    }

    /// A sender that never segments (one `sendto` per datagram).
    pub fn unsegmented() -> BatchSender {
        BatchSender { udp: None }
    }

    /// Datagrams a batch may hold now (1 without GSO, or after it failed).
    pub fn max_segments(&self) -> usize {
        self.udp.as_ref().map_or(1, |u| u.max_gso_segments())
    }

    /// Sends `batch` on `socket` now, without waiting: `socket` must be non-blocking; a
    /// datagram the socket's buffer has no room for is lost like one lost on the way
    /// (a WebRTC viewer's NACKs bring media back from the resend cache; DTLS and ICE
    /// retransmit). Never waiting is what lets the thread that hands frames to a
    /// server send them itself. Returns the datagrams not sent.
    pub fn send_now(&self, socket: &UdpSocket, batch: &DatagramBatch) -> usize {
        let Some(destination) = batch.destination else {
            return 0;
        };
        if let (Some(udp), Some(size)) = (&self.udp, batch.segment_size()) {
            let transmit = Transmit {
                destination,
                ecn: None,
                contents: &batch.contents,
                segment_size: Some(size),
                src_ip: None,
            };
            match udp.try_send(socket.into(), &transmit) {
                Ok(()) => return 0,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return batch.count,
                Err(e) => tracing::debug!("a segmented send failed ({e}); one by one"),
            }
        }
        batch
            .datagrams()
            .filter(|datagram| socket.send_to(datagram, destination).is_err())
            .count()
    }
}

/// One sender's datagrams on their way out: each joins the batch, which is sent when a
/// datagram does not continue it and when [`Outbox::flush`] is called (nothing more to
/// send now).
#[derive(Debug)]
pub struct Outbox {
    sender: BatchSender,
    batch: DatagramBatch,
    /// Datagrams lost because the socket's buffer was full.
    unsent: u64,
}

impl Outbox {
    /// An empty outbox sending through `sender`.
    pub fn new(sender: BatchSender) -> Outbox {
        let batch = DatagramBatch::new(sender.max_segments());
        Outbox {
            sender,
            batch,
            unsent: 0,
        }
    }

    /// Datagrams lost so far because the socket's buffer was full.
    pub fn unsent(&self) -> u64 {
        self.unsent
    }

    /// Queues `datagram` for `destination` (sending the batch before if it must).
    pub fn push(&mut self, socket: &UdpSocket, destination: SocketAddr, datagram: &[u8]) {
        if !self.batch.try_push(destination, datagram) {
            self.flush(socket);
            // An empty batch takes any datagram.
            self.batch.try_push(destination, datagram);
        }
    }

    /// Sends what waits.
    pub fn flush(&mut self, socket: &UdpSocket) {
        if !self.batch.is_empty() {
            self.unsent += self.sender.send_now(socket, &self.batch) as u64;
            self.batch.clear(self.sender.max_segments());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// The runs a sequence of (destination port, size) is cut into, as counts.
    fn runs(datagrams: &[(u16, usize)], max_segments: usize) -> Vec<Vec<usize>> {
        let mut batch = DatagramBatch::new(max_segments);
        let mut out = Vec::new();
        let mut take = |batch: &DatagramBatch| {
            out.push(batch.datagrams().map(<[u8]>::len).collect::<Vec<_>>());
        };
        for &(port, size) in datagrams {
            let data = vec![7u8; size];
            if !batch.try_push(addr(port), &data) {
                take(&batch);
                batch.clear(max_segments);
                assert!(batch.try_push(addr(port), &data));
            }
        }
        if !batch.is_empty() {
            take(&batch);
        }
        out
    }

    #[test]
    fn runs_of_equal_sizes_with_a_shorter_last_one() {
        let d = [
            (1, 1200),
            (1, 1200),
            (1, 1200),
            (1, 500),
            (1, 1200),
            (1, 1200),
            (1, 80),
            (1, 1200),
        ];
        assert_eq!(
            runs(&d, 64),
            vec![
                vec![1200, 1200, 1200, 500],
                vec![1200, 1200, 80],
                vec![1200]
            ]
        );
    }

    #[test]
    fn a_longer_datagram_or_another_destination_starts_a_new_run() {
        let d = [(1, 100), (1, 1200), (2, 1200), (2, 1200), (1, 1200), (1, 0)];
        assert_eq!(
            runs(&d, 64),
            vec![vec![100], vec![1200], vec![1200, 1200], vec![1200], vec![0]]
        );
    }

    #[test]
    fn segments_and_bytes_are_bounded() {
        let d = vec![(1, 1000); 150];
        let cut = runs(&d, 64);
        assert_eq!(
            cut.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![64, 64, 22]
        );
        let big = vec![(1, 9000); 10];
        assert_eq!(
            runs(&big, 64).iter().map(Vec::len).collect::<Vec<_>>(),
            vec![7, 3]
        );
        assert!(runs(&big, 64).iter().flatten().all(|s| *s == 9000));
    }

    #[test]
    fn without_segmentation_every_datagram_is_alone() {
        let d = [(1, 1200), (1, 1200), (1, 300)];
        assert_eq!(runs(&d, 1), vec![vec![1200], vec![1200], vec![300]]);
        assert_eq!(runs(&d, 0), vec![vec![1200], vec![1200], vec![300]]);
    }

    /// A batch through the real kernel on loopback, segmented and one by one: the
    /// receiver gets the same datagrams in order either way.
    #[tokio::test]
    async fn a_batch_arrives_as_its_datagrams() {
        let receiver = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = receiver.local_addr().unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let sizes = [1100, 1100, 1100, 1100, 321];
        let probed = BatchSender::probe(to);
        // Linux has had UDP GSO since 4.18: the segmented path must be the one tested.
        #[cfg(target_os = "linux")]
        assert_eq!(probed.max_segments(), 64);
        for sender in [probed, BatchSender::unsegmented()] {
            let segments = sender.max_segments();
            let mut outbox = Outbox::new(sender);
            for (i, size) in sizes.iter().enumerate() {
                let data = vec![u8::try_from(i).unwrap(); *size];
                outbox.push(&socket, to, &data);
            }
            outbox.flush(&socket);
            assert_eq!(outbox.unsent(), 0);
            let mut buf = vec![0u8; 65536];
            for (i, size) in sizes.iter().enumerate() {
                let (n, _) = tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    receiver.recv_from(&mut buf),
                )
                .await
                .unwrap()
                .unwrap();
                assert_eq!(n, *size, "datagram {i} (segments {segments})");
                assert!(buf[..n].iter().all(|b| usize::from(*b) == i));
            }
        }
    }
}
