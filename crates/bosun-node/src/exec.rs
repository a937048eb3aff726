//! `kubectl exec` on the agent: the Kubernetes remote command protocol over WebSocket
//! (`v5.channel.k8s.io`, and `v4.channel.k8s.io` which lacks only the close signal).
//!
//! Every binary message starts with its channel: 0 stdin (client to agent), 1 stdout, 2
//! stderr, 3 the error channel (one `metav1.Status` JSON when the command ends), 4 terminal
//! resizes (`{"Width":80,"Height":24}`). In v5, `[255, n]` closes channel n (the client's
//! stdin EOF). The agent ends the connection with a normal closure after the status.

use crate::runtime::{ExecEvent, ExecSession, TerminalSize};
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// The subprotocols the agent speaks, preferred first.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
pub const CLOSE: u8 = 255;

/// What an exec request asks for, from its query (`command` repeated, `stdin`, `stdout`,
/// `stderr`, `tty`, or the older `input`, `output`, `error`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecParams {
    pub pod_uid: String,
    pub container: Option<String>,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// A boolean query value as Go's strconv.ParseBool reads it.
fn truthy(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

impl ExecParams {
    pub fn from_query(pairs: &[(String, String)]) -> Self {
        let mut p = Self::default();
        for (k, v) in pairs {
            match k.as_str() {
                "podUID" => p.pod_uid = v.clone(),
                "container" => p.container = Some(v.clone()),
                "command" => p.command.push(v.clone()),
                "stdin" | "input" => p.stdin = truthy(v),
                "stdout" | "output" => p.stdout = truthy(v),
                "stderr" | "error" => p.stderr = truthy(v),
                "tty" => p.tty = truthy(v),
                _ => {}
            }
        }
        p
    }
}

/// The status written on the error channel when the command ends, as the kubelet writes it.
pub fn exit_status(command: &[String], code: i32) -> serde_json::Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// What a message from the client means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    Stdin(Bytes),
    /// The client closed its stdin (v5 close signal on channel 0).
    StdinClosed,
    Resize(TerminalSize),
    /// Anything else: ignored.
    Other,
}

/// Decode a binary message from the client.
pub fn decode(message: &Bytes) -> ClientFrame {
    match message.first() {
        Some(&STDIN) => ClientFrame::Stdin(message.slice(1..)),
        Some(&RESIZE) => {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "PascalCase")]
            struct Size {
                width: u16,
                height: u16,
            }
            match serde_json::from_slice::<Size>(&message[1..]) {
                Ok(s) => ClientFrame::Resize(TerminalSize {
                    width: s.width,
                    height: s.height,
                }),
                Err(_) => ClientFrame::Other,
            }
        }
        Some(&CLOSE) if message.get(1) == Some(&STDIN) => ClientFrame::StdinClosed,
        _ => ClientFrame::Other,
    }
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(channel);
    out.extend_from_slice(data);
    Message::Binary(out.into())
}

/// How long a session holds the command's first output for a client that sends nothing (see
/// [`serve`]).
const CLIENT_STREAMS_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Run a session over an upgraded connection until the command ends or the client leaves
/// (which ends the session: dropping it stops the command where the runtime can).
pub async fn serve(socket: WebSocket, mut session: ExecSession, params: ExecParams) {
    let (mut sink, mut incoming) = socket.split();
    // Stdin is written by its own task, so a command that does not read cannot stall output.
    let (stdin_tx, mut stdin_rx) = mpsc::channel::<Option<Bytes>>(16);
    let stdin_task = session.stdin.take().map(|mut writer| {
        tokio::spawn(async move {
            while let Some(chunk) = stdin_rx.recv().await {
                match chunk {
                    Some(data) => {
                        if writer.write_all(&data).await.is_err() {
                            return;
                        }
                    }
                    None => break,
                }
            }
            let _ = writer.shutdown().await;
        })
    });
    let mut client_open = true;
    // Nothing goes to the client until it can take it: client-go's websocket executor (kubectl
    // exec) reads the connection before it has created its streams and drops frames for streams
    // it does not have yet, and a close that early fails the exec ("closed all streams"). A
    // command like `echo` answers within a millisecond of the upgrade, so the output waits until
    // the client has sent something (it has its streams then) or for CLIENT_STREAMS_WAIT.
    let streams_created = tokio::time::sleep(CLIENT_STREAMS_WAIT);
    tokio::pin!(streams_created);
    let mut client_ready = false;
    loop {
        tokio::select! {
            () = &mut streams_created, if !client_ready => client_ready = true,
            event = session.events.recv(), if client_ready => match event {
                Some(ExecEvent::Stdout(b)) if params.stdout || params.tty => {
                    if sink.send(frame(STDOUT, &b)).await.is_err() { break; }
                }
                Some(ExecEvent::Stderr(b)) if params.stderr => {
                    if sink.send(frame(STDERR, &b)).await.is_err() { break; }
                }
                Some(ExecEvent::Stdout(_) | ExecEvent::Stderr(_)) => {}
                Some(ExecEvent::Exit(code)) => {
                    let status = exit_status(&params.command, code).to_string();
                    let _ = sink.send(frame(ERROR, status.as_bytes())).await;
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code: close_code::NORMAL,
                            reason: "".into(),
                        })))
                        .await;
                    break;
                }
                None => break,
            },
            message = incoming.next(), if client_open => match message {
                Some(Ok(Message::Binary(data))) => {
                    // The client writes once its streams exist.
                    client_ready = true;
                    match decode(&data) {
                        ClientFrame::Stdin(bytes) => {
                            let _ = stdin_tx.send(Some(bytes)).await;
                        }
                        ClientFrame::StdinClosed => {
                            let _ = stdin_tx.send(None).await;
                        }
                        ClientFrame::Resize(size) => {
                            if let Some(r) = &session.resize {
                                let _ = r.send(size);
                            }
                        }
                        ClientFrame::Other => {}
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    client_open = false;
                    break;
                }
                Some(Ok(_)) => {}
            },
        }
    }
    drop(stdin_tx);
    if let Some(task) = stdin_task {
        task.abort();
    }
    // Drain the close handshake briefly so the client sees a clean end.
    if client_open {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            while let Some(Ok(m)) = incoming.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_query_names_the_command_and_streams() {
        let p = ExecParams::from_query(&pairs(&[
            ("command", "sh"),
            ("command", "-c"),
            ("command", "echo hi"),
            ("container", "c"),
            ("stdout", "true"),
            ("stderr", "1"),
            ("podUID", "u"),
        ]));
        assert_eq!(p.command, ["sh", "-c", "echo hi"]);
        assert_eq!(p.container.as_deref(), Some("c"));
        assert!(p.stdout && p.stderr && !p.stdin && !p.tty);
        assert_eq!(p.pod_uid, "u");
        let old = ExecParams::from_query(&pairs(&[("input", "1"), ("output", "1"), ("tty", "t")]));
        assert!(old.stdin && old.stdout && !old.stderr && old.tty);
    }

    #[test]
    fn the_exit_status_is_success_or_non_zero_exit_code_with_the_code() {
        assert_eq!(
            exit_status(&["true".into()], 0),
            json!({"metadata": {}, "status": "Success"})
        );
        let s = exit_status(&["sh".into(), "-c".into(), "exit 3".into()], 3);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert_eq!(
            s["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
    }

    #[test]
    fn client_frames_are_stdin_close_and_resize() {
        assert_eq!(
            decode(&Bytes::from_static(b"\x00hi")),
            ClientFrame::Stdin(Bytes::from_static(b"hi"))
        );
        assert_eq!(
            decode(&Bytes::from_static(&[255, 0])),
            ClientFrame::StdinClosed
        );
        assert_eq!(
            decode(&Bytes::from_static(b"\x04{\"Width\":80,\"Height\":24}")),
            ClientFrame::Resize(TerminalSize {
                width: 80,
                height: 24
            })
        );
        assert_eq!(decode(&Bytes::from_static(b"\x04junk")), ClientFrame::Other);
        assert_eq!(decode(&Bytes::new()), ClientFrame::Other);
    }
}
