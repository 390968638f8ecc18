//! QEMU's machine protocol over its unix socket: one JSON object a line. A handful of commands
//! (stop, cont, quit, set_link) is all the harness needs, so serde_json on the socket is the
//! whole client; events that arrive between answers are skipped.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{Error, Result};

pub struct Qmp {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Qmp {
    /// Connects (QEMU makes the socket as it starts: waits up to `patience` for it) and
    /// leaves capabilities negotiation behind.
    pub fn connect(path: &Path, patience: Duration) -> Result<Qmp> {
        let stream = crate::connect_when_there(path, patience, "QMP socket")?;
        let io = |error| Error::Io {
            what: format!("QMP socket {}", path.display()),
            error,
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(io)?;
        let reader = BufReader::new(stream.try_clone().map_err(io)?);
        let mut qmp = Qmp {
            writer: stream,
            reader,
        };
        let greeting = qmp.read()?;
        if greeting.get("QMP").is_none() {
            return Err(Error::Qmp(format!("unexpected greeting {greeting}")));
        }
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    fn read(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| Error::Qmp(format!("reading: {e}")))?;
        if n == 0 {
            return Err(Error::Qmp("QEMU closed the QMP socket".into()));
        }
        serde_json::from_str(&line).map_err(|e| Error::Qmp(format!("{e}: {line}")))
    }

    /// Runs one command and returns its `return` value (an `error` answer is an error).
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value> {
        let mut request = json!({ "execute": command });
        if arguments.as_object().is_some_and(|a| !a.is_empty()) {
            request["arguments"] = arguments;
        }
        writeln!(self.writer, "{request}").map_err(|e| Error::Qmp(format!("writing: {e}")))?;
        loop {
            let answer = self.read()?;
            if let Some(ret) = answer.get("return") {
                return Ok(ret.clone());
            }
            if let Some(err) = answer.get("error") {
                return Err(Error::Qmp(format!("{command}: {err}")));
            }
            // An event ({"event": …}): not ours.
        }
    }
}
