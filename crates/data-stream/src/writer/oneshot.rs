//! One-shot sends: a whole text, byte payload or file as one stream, with data streams
//! v2 where every recipient supports it ([`super::V2Support`]), as LiveKit JS's `sendText`,
//! `sendBytes` and `sendFile` do (client-sdk-js `OutgoingDataStreamManager.ts`):
//!
//! 1. single packet: the content (compressed if that makes it smaller) in the header's
//!    `inline_content`, when the whole packet fits [`MAX_HEADER_BUDGET`] and there are no
//!    attachments; never for files;
//! 2. else, with compression: a header with `compression = DEFLATE_RAW`, chunks cut from
//!    one raw-deflate stream, a trailer; `total_length` is the size before compression;
//! 3. else v1: plain chunks (text cut on code-point boundaries).
//!
//! Incremental writers ([`Outgoing::stream_bytes`], [`Outgoing::stream_text`]) are never
//! compressed, as in LiveKit.

use std::collections::HashMap;

use bytes::Bytes;

use super::{OnProgress, Outgoing, StreamOptions, StreamWriter, queue};
use crate::compression::{Deflater, deflate_raw};
use crate::packet::{Header, MAX_HEADER_BUDGET, Packet, StreamInfo, StreamKind, TextInfo};
use crate::split::{split_bytes, split_text};
use crate::{Error, Result};

/// A file attached to a text message: sent as a byte stream on the same topic right
/// after the text, its id listed in the text's `attached_stream_ids` (LiveKit JS
/// `sendText(text, {attachments})`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Attachment {
    /// Name of the byte stream (usually a file name).
    pub name: String,
    /// MIME type (default: guessed from the name, else `application/octet-stream`).
    pub mime_type: Option<String>,
    /// Content.
    pub data: Bytes,
}

impl Attachment {
    /// An attachment named `name`, MIME type guessed from it.
    pub fn new(name: impl Into<String>, data: impl Into<Bytes>) -> Self {
        let name = name.into();
        let mime_type = mime_guess::from_path(&name)
            .first()
            .map(|m| m.essence_str().to_owned());
        Attachment {
            name,
            mime_type,
            data: data.into(),
        }
    }
}

impl Outgoing {
    /// Sends `text` as one text stream (total length = its UTF-8 length) and closes it.
    pub async fn send_text(
        &self,
        text: impl Into<String>,
        options: StreamOptions,
    ) -> Result<StreamInfo> {
        self.send_text_with_attachments(text, Vec::new(), options)
            .await
    }

    /// Sends `text` with files attached: the text stream lists fresh ids in
    /// `attached_stream_ids`, then each attachment goes as a byte stream with its id on
    /// the same topic. Progress covers all parts (bytes of the text and attachments).
    /// Returns the text's info.
    pub async fn send_text_with_attachments(
        &self,
        text: impl Into<String>,
        attachments: Vec<Attachment>,
        mut options: StreamOptions,
    ) -> Result<StreamInfo> {
        let text = Bytes::from(text.into());
        let ids: Vec<String> = attachments
            .iter()
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        let total =
            text.len() as u64 + attachments.iter().map(|a| a.data.len() as u64).sum::<u64>();
        let user_progress = options.on_progress.take();
        let part_progress = |offset: u64| {
            user_progress.clone().map(|p| {
                OnProgress::new(move |part: super::SendProgress| {
                    p.call(offset + part.sent, Some(total))
                })
            })
        };
        let (topic, compress, chunk_size) =
            (options.topic.clone(), options.compress, options.chunk_size);
        options.on_progress = part_progress(0);
        let mut offset = text.len() as u64;
        let kind = StreamKind::Text(TextInfo {
            attached_stream_ids: ids.clone(),
            ..TextInfo::default()
        });
        let single_packet = attachments.is_empty();
        let info = self.send_whole(kind, text, options, single_packet).await?;
        for (attachment, id) in attachments.into_iter().zip(ids) {
            let len = attachment.data.len() as u64;
            let options = StreamOptions {
                topic: topic.clone(),
                mime_type: attachment.mime_type,
                stream_id: Some(id),
                compress,
                chunk_size,
                on_progress: part_progress(offset),
                ..StreamOptions::default()
            };
            let kind = StreamKind::Bytes {
                name: attachment.name,
            };
            self.send_whole(kind, attachment.data, options, true)
                .await?;
            offset += len;
        }
        Ok(info)
    }

    /// Sends `data` as one byte stream named `name` and closes it.
    pub async fn send_bytes(
        &self,
        name: impl Into<String>,
        data: impl Into<Bytes>,
        options: StreamOptions,
    ) -> Result<StreamInfo> {
        let kind = StreamKind::Bytes { name: name.into() };
        self.send_whole(kind, data.into(), options, true).await
    }

    /// Sends a whole payload as one stream, in the first of the three forms (module docs)
    /// that the recipients support and that fits.
    async fn send_whole(
        &self,
        kind: StreamKind,
        data: Bytes,
        mut options: StreamOptions,
        single_packet_ok: bool,
    ) -> Result<StreamInfo> {
        let total = data.len() as u64;
        let is_text = matches!(kind, StreamKind::Text(_));
        if is_text && options.chunk_size < 4 {
            return Err(Error::ChunkSizeTooSmall(options.chunk_size));
        }
        options.total_length = Some(total);
        let compress = options.compress && self.v2.deflate_raw;
        let progress = options.on_progress.clone();
        let (info, chunk_size) = options.into_info(kind);
        let chunk_size = chunk_size.max(1);
        if self.v2.single_packet && single_packet_ok {
            // Compressed only if that makes it smaller (deflate framing grows tiny payloads).
            let compressed = compress
                .then(|| deflate_raw(&data))
                .filter(|c| c.len() < data.len());
            let header = Header {
                info: info.clone(),
                compression: i32::from(compressed.is_some()),
                inline_content: Some(compressed.unwrap_or_else(|| data.clone())),
            };
            let frame = Packet::Header(Box::new(header)).to_frame(&self.envelope);
            if frame.len() <= MAX_HEADER_BUDGET {
                queue(&self.tx, frame, &info.id).await?;
                if let Some(progress) = &progress {
                    progress.call(total, Some(total));
                }
                return Ok(info);
            }
        }
        if compress {
            let mut deflating = Deflating::open(self, info, chunk_size, progress).await?;
            for piece in split_bytes(data, chunk_size) {
                deflating.push(&piece, false).await?;
            }
            return deflating.finish().await;
        }
        let writer = StreamWriter::open(self, Header::new(info), chunk_size, progress).await?;
        let len = data.len();
        match is_text {
            true => {
                writer
                    .write_pieces(len, split_text(data, chunk_size)?)
                    .await?
            }
            false => {
                writer
                    .write_pieces(len, split_bytes(data, chunk_size))
                    .await?
            }
        }
        writer.close("", HashMap::new()).await
    }

    /// Streams a file from disk: name = file name, MIME type guessed from the extension
    /// (unless given), total length = file size. Reads one chunk at a time; compressed
    /// (raw deflate, streaming) when every recipient supports it, never single-packet.
    #[cfg(feature = "tokio")]
    pub async fn send_file(
        &self,
        path: impl AsRef<std::path::Path>,
        mut options: StreamOptions,
    ) -> Result<StreamInfo> {
        use tokio::io::AsyncReadExt;
        let path = path.as_ref();
        let context = || path.display().to_string();
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::io(context(), &e))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| Error::io(context(), &e))?
            .len();
        options.total_length = Some(size);
        if options.mime_type.is_none() {
            options.mime_type = mime_guess::from_path(path)
                .first()
                .map(|m| m.essence_str().to_owned());
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let compress = options.compress && self.v2.deflate_raw;
        let progress = options.on_progress.clone();
        let (info, chunk_size) = options.into_info(StreamKind::Bytes { name });
        let chunk_size = chunk_size.max(1);
        let mut sink = match compress {
            true => FileSink::Deflating(Deflating::open(self, info, chunk_size, progress).await?),
            false => {
                let header = Header::new(info);
                FileSink::Plain(StreamWriter::open(self, header, chunk_size, progress).await?)
            }
        };
        loop {
            let mut buf = bytes::BytesMut::with_capacity(chunk_size);
            while buf.len() < chunk_size {
                let n = (&mut file)
                    .take((chunk_size - buf.len()) as u64)
                    .read_buf(&mut buf)
                    .await;
                match n {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        let error = Error::io(context(), &e);
                        // The trailer says why; the receiver sees an abnormal end.
                        let _ = sink
                            .writer()
                            .close(&error.to_string(), HashMap::new())
                            .await;
                        return Err(error);
                    }
                }
            }
            if buf.is_empty() {
                break;
            }
            match &mut sink {
                FileSink::Deflating(d) => d.push(&buf, false).await?,
                FileSink::Plain(w) => {
                    w.write_pieces(buf.len(), std::iter::once(buf.freeze()))
                        .await?
                }
            }
        }
        match sink {
            FileSink::Deflating(d) => d.finish().await,
            FileSink::Plain(w) => w.close("", HashMap::new()).await,
        }
    }
}

#[cfg(feature = "tokio")]
enum FileSink {
    Deflating(Deflating),
    Plain(StreamWriter),
}

#[cfg(feature = "tokio")]
impl FileSink {
    fn writer(&self) -> &StreamWriter {
        match self {
            FileSink::Deflating(d) => &d.writer,
            FileSink::Plain(w) => w,
        }
    }
}

/// A compressed stream being written: content in, deflate output out in chunks.
struct Deflating {
    writer: StreamWriter,
    deflater: Deflater,
    /// Deflate output not yet a whole chunk.
    pending: Vec<u8>,
    chunk_size: usize,
    progress: Option<OnProgress>,
    consumed: u64,
}

impl Deflating {
    async fn open(
        outgoing: &Outgoing,
        info: StreamInfo,
        chunk_size: usize,
        progress: Option<OnProgress>,
    ) -> Result<Self> {
        let header = Header {
            info,
            inline_content: None,
            compression: crate::wire::CompressionType::DeflateRaw as i32,
        };
        Ok(Deflating {
            writer: StreamWriter::open(outgoing, header, chunk_size, None).await?,
            deflater: Deflater::default(),
            pending: Vec::new(),
            chunk_size,
            progress,
            consumed: 0,
        })
    }

    /// Compresses `input` and queues every whole chunk of output (all of it at `finish`).
    async fn push(&mut self, input: &[u8], finish: bool) -> Result<()> {
        self.deflater.compress(input, finish, &mut self.pending);
        let cut = match finish {
            true => self.pending.len(),
            false => self.pending.len() / self.chunk_size * self.chunk_size,
        };
        if cut > 0 {
            let mut ready = Bytes::from(std::mem::take(&mut self.pending));
            // The tail (under one chunk) is copied back; whole chunks are slices.
            self.pending = ready.split_off(cut).to_vec();
            let pieces = split_bytes(ready, self.chunk_size);
            self.writer.write_pieces(cut, pieces).await?;
        }
        self.consumed += input.len() as u64;
        if let Some(progress) = &self.progress {
            progress.call(self.consumed, self.writer.info.total_length);
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<StreamInfo> {
        self.push(&[], true).await?;
        self.writer.close("", HashMap::new()).await
    }
}
