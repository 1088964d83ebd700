//! How a binary ends on an error: one line on standard error naming the
//! program, the error and its causes, and a failing exit status.

use std::error::Error;
use std::process::ExitCode;

/// The error and its causes, joined by `: `. A cause is left out when the
/// text already says it: most messages embed their source.
pub fn describe(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string().trim_end().to_owned();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        let said = said.trim_end();
        if !text.contains(said) {
            text.push_str(": ");
            text.push_str(said);
        }
        cause = inner.source();
    }
    text
}

/// The exit status of `program` for `result`, printing the error if any.
pub fn exit_code<E: AsRef<dyn Error + 'static>>(program: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{program}: error: {}", describe(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Failure {
        #[error("reading {path}: {source}")]
        Embedded {
            path: &'static str,
            source: std::io::Error,
        },
        #[error("loading the bundle")]
        Wrapped(#[source] std::io::Error),
    }

    #[test]
    fn a_cause_is_said_once() {
        let missing = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let embedded = Failure::Embedded {
            path: "/x",
            source: missing(),
        };
        assert_eq!(describe(&embedded), "reading /x: no such file");
        assert_eq!(
            describe(&Failure::Wrapped(missing())),
            "loading the bundle: no such file"
        );
    }
}
