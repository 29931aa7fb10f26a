//! Texts with their attachments, read whole: the receiving side of LiveKit JS's
//! `sendText(text, {attachments})` and of [`Outgoing::send_text_with_attachments`]
//! (crate::Outgoing::send_text_with_attachments). A text stream lists the ids of byte
//! streams sent alongside on the same topic (`TextHeader.attached_stream_ids`, field 4);
//! [`TextMessages`] reads every text and byte stream of the topic at once (so no reader
//! holds up the connection) and hands out each text when all its attachments are in.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::IncomingStreams;
use crate::packet::{StreamInfo, StreamKind};
use crate::reader::StreamReader;
use crate::{Error, Result};

/// A text stream read whole, with the byte streams it attached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TextMessage {
    /// The text stream's info (trailer attributes merged).
    pub info: StreamInfo,
    /// Its content.
    pub text: String,
    /// The attached byte streams, in the order of `attached_stream_ids`.
    pub attachments: Vec<ReceivedAttachment>,
}

/// One attached byte stream, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedAttachment {
    /// The byte stream's info (name, MIME type...).
    pub info: StreamInfo,
    /// Its content.
    pub data: Bytes,
}

/// Byte streams kept while no text claimed them (an attachment can finish before its
/// text); the oldest go first past this.
const UNCLAIMED_BYTE_STREAMS: usize = 64;

/// A stream being read: its id, whether it is text, and the outcome.
type Read = Pin<Box<dyn Future<Output = (String, bool, Result<Part>)> + Send>>;

enum Part {
    Text(StreamInfo, String),
    Bytes(StreamInfo, Bytes),
}

enum Step {
    Reader(StreamReader),
    Read(String, bool, Result<Part>),
    End,
}

/// The texts of one topic with their attachments; see the module docs. Attachments are
/// held in memory until their text is complete (each bounded by
/// [`Limits::max_stream_size`](crate::Limits::max_stream_size)).
pub struct TextMessages {
    texts: Option<IncomingStreams>,
    bytes: Option<IncomingStreams>,
    reads: FuturesUnordered<Read>,
    waiting: Vec<(StreamInfo, String)>,
    files: HashMap<String, Result<(StreamInfo, Bytes)>>,
    file_order: VecDeque<String>,
}

impl TextMessages {
    pub(super) fn new(texts: IncomingStreams, bytes: IncomingStreams) -> Self {
        TextMessages {
            texts: Some(texts),
            bytes: Some(bytes),
            reads: FuturesUnordered::new(),
            waiting: Vec::new(),
            files: HashMap::new(),
            file_order: VecDeque::new(),
        }
    }

    /// The next complete text with its attachments; `None` once the connection ended.
    /// A text (or one of its attachments) that failed is an `Err` item; a text whose
    /// attachments never came fails with [`Error::TransportClosed`] at the end.
    pub async fn next(&mut self) -> Option<Result<TextMessage>> {
        loop {
            if let Some(message) = self.complete() {
                return Some(message);
            }
            match self.step().await {
                Step::Reader(reader) => self.reads.push(read(reader)),
                Step::Read(_, _, Ok(Part::Text(info, text))) => self.waiting.push((info, text)),
                Step::Read(id, _, Ok(Part::Bytes(info, data))) => {
                    self.keep_file(id, Ok((info, data)))
                }
                Step::Read(_, true, Err(e)) => return Some(Err(e)),
                // The text that attached it reports it.
                Step::Read(id, false, Err(e)) => self.keep_file(id, Err(e)),
                Step::End => {
                    let (info, _) = self.waiting.pop()?;
                    return Some(Err(Error::TransportClosed {
                        stream_id: info.id,
                        detail: "an attachment never arrived".to_owned(),
                    }));
                }
            }
        }
    }

    fn keep_file(&mut self, id: String, file: Result<(StreamInfo, Bytes)>) {
        self.file_order.push_back(id.clone());
        self.files.insert(id, file);
        while self.file_order.len() > UNCLAIMED_BYTE_STREAMS {
            if let Some(old) = self.file_order.pop_front() {
                self.files.remove(&old);
            }
        }
    }

    /// A waiting text whose attachments are all in, taken with them.
    fn complete(&mut self) -> Option<Result<TextMessage>> {
        let position = self.waiting.iter().position(|(info, _)| {
            attached(info)
                .iter()
                .all(|id| self.files.contains_key(id.as_str()))
        })?;
        let (info, text) = self.waiting.remove(position);
        let mut attachments = Vec::new();
        for id in attached(&info) {
            self.file_order.retain(|f| f != id);
            match self.files.remove(id.as_str()) {
                Some(Ok((info, data))) => attachments.push(ReceivedAttachment { info, data }),
                Some(Err(e)) => return Some(Err(e)),
                None => {}
            }
        }
        Some(Ok(TextMessage {
            info,
            text,
            attachments,
        }))
    }

    async fn step(&mut self) -> Step {
        futures::future::poll_fn(|cx| {
            for source in [&mut self.texts, &mut self.bytes] {
                if let Some(streams) = source {
                    match streams.poll_next_unpin(cx) {
                        Poll::Ready(Some(reader)) => return Poll::Ready(Step::Reader(reader)),
                        Poll::Ready(None) => *source = None,
                        Poll::Pending => {}
                    }
                }
            }
            if let Poll::Ready(Some((id, is_text, part))) = self.reads.poll_next_unpin(cx) {
                return Poll::Ready(Step::Read(id, is_text, part));
            }
            if self.texts.is_none() && self.bytes.is_none() && self.reads.is_empty() {
                return Poll::Ready(Step::End);
            }
            Poll::Pending
        })
        .await
    }
}

fn attached(info: &StreamInfo) -> &[String] {
    match &info.kind {
        StreamKind::Text(t) => &t.attached_stream_ids,
        StreamKind::Bytes { .. } => &[],
    }
}

fn read(mut reader: StreamReader) -> Read {
    Box::pin(async move {
        let id = reader.info().id.clone();
        let is_text = matches!(reader.info().kind, StreamKind::Text(_));
        let part = match reader.info().kind {
            StreamKind::Text(_) => reader
                .read_text()
                .await
                .map(|text| Part::Text(reader.info().clone(), text)),
            StreamKind::Bytes { .. } => reader
                .read_all()
                .await
                .map(|data| Part::Bytes(reader.info().clone(), data)),
        };
        (id, is_text, part)
    })
}
