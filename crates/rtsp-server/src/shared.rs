//! The fan-out of each frame's RTP packets to every playing client, and what the
//! connections and the server share. Packets are made once for all clients (one SSRC and
//! sequence per track, as a camera's own server does); a client over TCP gets them
//! through its own bounded queue, a client over UDP straight from the caller's thread (a
//! datagram the socket has no room for is lost, as on the network).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use crate::Settings;
use crate::handler::{Delivery, Description, Reply};
use crate::outbox::Outbox;
use crate::wire::bytes_of;

pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) path: String,
    pub(crate) local_addr: SocketAddr,
    /// The UDP sockets RTP and RTCP leave from (`server_port`); `None` when UDP could not
    /// be bound (clients then get TCP only).
    pub(crate) udp: Option<(UdpSocket, UdpSocket)>,
    /// RTP datagrams to UDP clients: a frame's packets to one client in one segmented
    /// send where the kernel has UDP GSO (`rtp_media::udp`).
    pub(crate) udp_batches: Mutex<rtp_media::udp::Outbox>,
    /// Ingest: where a publisher's stream is handed (`Server::bind_ingest`).
    pub(crate) ingest: Option<mpsc::Sender<crate::Publish>>,
    /// Connections open (playing or not): at most four per allowed client.
    pub(crate) connections: std::sync::atomic::AtomicUsize,
    pub(crate) state: Mutex<State>,
}

#[derive(Default)]
pub(crate) struct State {
    description: Option<Arc<Description>>,
    /// Which tracks are video (a client joins at a video key frame).
    video: Vec<bool>,
    clients: HashMap<u64, Client>,
    /// The packets since the last video key frame (track, packet), for joiners.
    gop: Vec<(usize, Bytes)>,
    gop_valid: bool,
    /// Each track's last packet's sequence number and timestamp (RTP-Info of joiners).
    last: Vec<Option<(u16, u32)>>,
    next_id: u64,
    closed: bool,
}

/// A client about to play, as its connection knows it.
pub(crate) struct Start<'a> {
    pub(crate) id: u64,
    /// The description its SETUPs were answered from.
    pub(crate) description: &'a Arc<Description>,
    pub(crate) tracks: &'a [(usize, Delivery)],
    /// The PLAY request's URL (the stream's), without a trailing slash.
    pub(crate) uri: &'a str,
    pub(crate) out: &'a Arc<Outbox>,
    pub(crate) end: &'a Arc<Notify>,
}

/// An RTP packet's sequence number and timestamp.
fn seq_and_time(packet: &[u8]) -> Option<(u16, u32)> {
    let seq = u16::from_be_bytes(packet.get(2..4)?.try_into().ok()?);
    let time = u32::from_be_bytes(packet.get(4..8)?.try_into().ok()?);
    Some((seq, time))
}

/// A playing client.
struct Client {
    /// Where each track goes (by track index).
    tracks: Vec<Option<Delivery>>,
    /// The connection's outgoing bytes (TCP clients).
    out: Arc<Outbox>,
    /// Packets are dropped until the next video key frame (joined or fell behind).
    waiting_key: bool,
    /// Since when its queue has been full.
    full_since: Option<Instant>,
    end: Arc<Notify>,
}

impl Shared {
    /// Takes a new description; clients of the earlier one are ended (their SDP no
    /// longer says what comes).
    pub(crate) fn describe(&self, description: Description, video: Vec<bool>) {
        let tracks = description.tracks;
        let mut state = self.state();
        for client in state.clients.values() {
            client.end.notify_one();
        }
        state.clients.clear();
        state.description = Some(Arc::new(description));
        state.video = video;
        state.last = vec![None; tracks];
        state.gop.clear();
        state.gop_valid = false;
    }

    /// How many clients are playing.
    pub(crate) fn clients(&self) -> usize {
        self.state().clients.len()
    }

    /// Ends every client; no one plays again.
    pub(crate) fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        for client in state.clients.values() {
            client.end.notify_one();
        }
        state.clients.clear();
    }

    /// Hands one frame's RTP packets of `track` to every playing client; `key` marks a
    /// video key frame's (joiners and clients that fell behind resume there). Never
    /// blocks.
    pub(crate) fn send(&self, track: usize, packets: &[Bytes], key: bool) {
        let mut state = self.state();
        let state = &mut *state;
        let key = key && state.video.get(track).copied().unwrap_or(false);
        if key {
            state.gop.clear();
            state.gop_valid = true;
        }
        if state.gop_valid {
            if state.gop.len() + packets.len() <= self.settings.gop_packets {
                state.gop.extend(packets.iter().map(|p| (track, p.clone())));
            } else {
                // Too long since the key frame: joiners start at the next packet instead.
                state.gop.clear();
                state.gop_valid = false;
            }
        }
        if let (Some(slot), Some(last)) = (state.last.get_mut(track), packets.last()) {
            *slot = seq_and_time(last).or(*slot);
        }
        let now = Instant::now();
        let stalled = self.settings.stalled_after;
        // Without video any packet is a place to resume.
        let resume = key || !state.video.iter().any(|v| *v);
        for (id, client) in &mut state.clients {
            if client.full_since.is_some() && client.out.has_room() {
                // It reads again (while it waited for a key frame, say).
                client.full_since = None;
            }
            if client.waiting_key {
                if !resume {
                    continue;
                }
                client.waiting_key = false;
            }
            self.deliver(client, track, packets, false, now);
            if client.full_since.is_some_and(|t| now - t > stalled) {
                tracing::warn!(
                    client = id,
                    "a client read nothing for {stalled:?}: disconnected"
                );
                client.end.notify_one();
                // Once: its connection leaves at the notice.
                client.full_since = None;
            }
        }
    }

    /// Hands a track's RTCP packet (a sender report) to every playing client.
    pub(crate) fn send_report(&self, track: usize, report: Bytes) {
        let mut state = self.state();
        let now = Instant::now();
        for client in state.clients.values_mut() {
            if !client.waiting_key {
                self.deliver(client, track, std::slice::from_ref(&report), true, now);
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn description(&self) -> Option<Arc<Description>> {
        self.state().description.clone()
    }

    pub(crate) fn next_id(&self) -> u64 {
        let mut state = self.state();
        state.next_id += 1;
        state.next_id
    }

    /// Whether each of `tracks` has sent a packet (so RTP-Info can name where a joiner
    /// starts).
    pub(crate) fn has_sent(&self, tracks: &[(usize, Delivery)]) -> bool {
        let state = self.state();
        tracks
            .iter()
            .all(|(t, _)| state.last.get(*t).is_some_and(Option::is_some))
    }

    /// Starts a client playing: its PLAY answer (with RTP-Info: each track's first
    /// packet it gets) into its queue, then the packets since the last key frame, then
    /// every new frame. `Err` when the stream changed under it, the server closed or as
    /// many clients as allowed play (the caller answers 503 instead).
    pub(crate) fn play(&self, start: Start<'_>, mut answer: Reply) -> Result<(), ()> {
        let mut state = self.state();
        let current = state.description.as_ref();
        if state.closed || !current.is_some_and(|d| Arc::ptr_eq(d, start.description)) {
            return Err(());
        }
        if !state.clients.contains_key(&start.id)
            && state.clients.len() >= self.settings.max_clients
        {
            let max = self.settings.max_clients;
            tracing::warn!(max, "a client refused: as many playing as allowed");
            return Err(());
        }
        let mut deliveries = vec![None; start.description.tracks];
        for (track, delivery) in start.tracks {
            if let Some(slot) = deliveries.get_mut(*track) {
                *slot = Some(*delivery);
            }
        }
        // From the last key frame when it is held, else from the next packet (a player
        // waits for a key frame itself).
        let burst = state.gop_valid;
        let info: Vec<String> = start
            .tracks
            .iter()
            .map(|(track, _)| {
                let first = burst
                    .then(|| state.gop.iter().find(|(t, _)| t == track))
                    .flatten()
                    .and_then(|(_, p)| seq_and_time(p))
                    .or_else(|| {
                        let (seq, time) = state.last.get(*track).copied().flatten()?;
                        Some((seq.wrapping_add(1), time))
                    });
                let url = format!("url={}/trackID={track}", start.uri);
                match first {
                    Some((seq, time)) => format!("{url};seq={seq};rtptime={time}"),
                    None => url,
                }
            })
            .collect();
        answer.insert_header(rtsp_types::headers::RTP_INFO, info.join(","));
        if !start.out.answer(bytes_of(&answer)) {
            return Err(());
        }
        let mut client = Client {
            tracks: deliveries,
            out: start.out.clone(),
            waiting_key: false,
            full_since: None,
            end: start.end.clone(),
        };
        if burst {
            // Each run of one track's packets handed over at once (one write for a run).
            let now = Instant::now();
            let mut run = Vec::new();
            for packets in state.gop.chunk_by(|a, b| a.0 == b.0) {
                run.clear();
                run.extend(packets.iter().map(|(_, p)| p.clone()));
                self.deliver(&mut client, packets[0].0, &run, false, now);
                if client.waiting_key {
                    break;
                }
            }
        }
        state.clients.insert(start.id, client);
        Ok(())
    }

    /// Forgets a client (its connection ended).
    pub(crate) fn leave(&self, id: u64) {
        self.state().clients.remove(&id);
    }
}

impl Shared {
    /// Hands `packets` to one client by its delivery for `track`; a full queue makes it wait
    /// for the next key frame (for RTP; a lost sender report is only skipped).
    fn deliver(
        &self,
        client: &mut Client,
        track: usize,
        packets: &[Bytes],
        rtcp: bool,
        now: Instant,
    ) {
        match client.tracks.get(track).copied().flatten() {
            None => {}
            Some(Delivery::Udp { rtp, rtcp: rtcp_to }) => {
                // Non-blocking: a full socket buffer loses the datagram.
                match &self.udp {
                    Some((_, socket)) if rtcp => {
                        for packet in packets {
                            let _ = socket.send_to(packet, rtcp_to);
                        }
                    }
                    Some((socket, _)) => {
                        let mut batches =
                            self.udp_batches.lock().unwrap_or_else(|e| e.into_inner());
                        for packet in packets {
                            batches.push(socket, rtp, packet);
                        }
                        batches.flush(socket);
                    }
                    None => {}
                }
            }
            Some(Delivery::Interleaved {
                rtp,
                rtcp: rtcp_channel,
            }) => {
                let channel = if rtcp { rtcp_channel } else { rtp };
                if client.out.packets(channel, packets) {
                    client.full_since = None;
                } else if !rtcp {
                    // Full (or gone): drop to the next key frame, never block the source.
                    client.waiting_key = true;
                    client.full_since.get_or_insert(now);
                }
            }
        }
    }
}
