//! Commands typed while streaming (one per line, e.g. on stdin), as a CLI reads them:
//!
//! | line | effect |
//! |---|---|
//! | `mute` | send silence; the file position stays |
//! | `unmute` | resume the file where it stopped |
//! | `title TEXT` | set the stream title |
//! | `stop` (or `quit`) | stop streaming |
//! | `queue PATH` | add an MP3 file at the end of the queue |
//! | `next PATH` | add an MP3 file to play right after the current song |
//! | `skip` | end the current song now |
//! | `clear` | remove the songs still to play |
//! | `list` | report the queue ([`crate::Event::Queue`]) |

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::{Command, Mp3Input};

/// Reads one command line; `Err` names what is wrong with it.
pub fn parse_command(line: &str) -> Result<Option<Command>, String> {
    let line = line.trim();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    match word.to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "mute" => Ok(Some(Command::Mute)),
        "unmute" => Ok(Some(Command::Unmute)),
        "stop" | "quit" => Ok(Some(Command::Stop)),
        "title" if !rest.trim().is_empty() => Ok(Some(Command::Title(rest.trim().to_owned()))),
        "title" => Err("title needs a text: title Artist - Song".into()),
        "queue" | "next" if rest.trim().is_empty() => {
            Err(format!("{word} needs a file: {word} PATH"))
        }
        "queue" => Ok(Some(Command::Enqueue(Mp3Input::File(rest.trim().into())))),
        "next" => Ok(Some(Command::PlayNext(Mp3Input::File(rest.trim().into())))),
        "skip" => Ok(Some(Command::Skip)),
        "clear" => Ok(Some(Command::Clear)),
        "list" => Ok(Some(Command::List)),
        other => Err(format!(
            "unknown command {other:?} (mute, unmute, title TEXT, queue PATH, next PATH, skip, clear, list, stop)"
        )),
    }
}

/// Forwards the commands read from `input` (lines) until it ends or the stream stops.
pub async fn forward_commands(input: impl AsyncRead + Unpin, commands: mpsc::Sender<Command>) {
    let mut lines = BufReader::new(input).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match parse_command(&line) {
            Ok(Some(command)) => {
                if commands.send(command).await.is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(message) => tracing::warn!("{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_commands() {
        assert_eq!(parse_command(" mute\n"), Ok(Some(Command::Mute)));
        assert_eq!(parse_command("UNMUTE"), Ok(Some(Command::Unmute)));
        assert_eq!(
            parse_command("title  Ärtist – Song "),
            Ok(Some(Command::Title("Ärtist – Song".into())))
        );
        assert_eq!(parse_command("quit"), Ok(Some(Command::Stop)));
        assert_eq!(
            parse_command("queue /music/Ä b.mp3"),
            Ok(Some(Command::Enqueue(Mp3Input::File(
                "/music/Ä b.mp3".into()
            ))))
        );
        assert_eq!(
            parse_command("NEXT x.mp3"),
            Ok(Some(Command::PlayNext(Mp3Input::File("x.mp3".into()))))
        );
        assert_eq!(parse_command("skip"), Ok(Some(Command::Skip)));
        assert_eq!(parse_command("clear"), Ok(Some(Command::Clear)));
        assert_eq!(parse_command("list"), Ok(Some(Command::List)));
        assert!(parse_command("queue").unwrap_err().contains("needs a file"));
        assert_eq!(parse_command(""), Ok(None));
        assert!(parse_command("title").unwrap_err().contains("needs a text"));
        assert!(
            parse_command("louder")
                .unwrap_err()
                .contains("unknown command")
        );
    }

    #[tokio::test]
    async fn forwarded_in_order_and_bad_lines_skipped() {
        let (tx, mut rx) = mpsc::channel(8);
        forward_commands(&b"mute\nbogus\ntitle A\nunmute\n"[..], tx).await;
        let mut got = Vec::new();
        while let Ok(c) = rx.try_recv() {
            got.push(c);
        }
        assert_eq!(
            got,
            vec![Command::Mute, Command::Title("A".into()), Command::Unmute]
        );
    }
}
