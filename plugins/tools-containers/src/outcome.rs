//! A run as the tool's result: what the command printed, or why it failed.

use hanzo_node_sdk::containers::RunResult;
use hanzo_node_sdk::tool::ToolError;
use serde_json::{Value, json};

/// The end of standard error quoted in a failure.
const STDERR_TAIL: usize = 2048;

/// Exit 0: standard output, as JSON when it is JSON, else `{"output": text}`.
/// Anything else is a failure naming the exit code or the timeout, with the
/// end of standard error.
pub fn result(run: &RunResult, timeout_ms: Option<u32>) -> Result<String, ToolError> {
    if run.timed_out {
        let after = timeout_ms.map_or("its time limit".into(), |ms| format!("{ms} ms"));
        return Err(ToolError::Failed(format!(
            "the command did not finish within {after}{}",
            stderr_tail(run)
        )));
    }
    match run.exit_code {
        Some(0) => {}
        code => {
            let code = code.map_or("no exit code".into(), |c| format!("exit code {c}"));
            return Err(ToolError::Failed(format!(
                "the command failed ({code}){}",
                stderr_tail(run)
            )));
        }
    }
    let text = String::from_utf8_lossy(&run.stdout);
    let value = match serde_json::from_str::<Value>(text.trim()) {
        Ok(v) => v,
        Err(_) => json!({ "output": text, "truncated": run.truncated }),
    };
    Ok(value.to_string())
}

fn stderr_tail(run: &RunResult) -> String {
    let err = String::from_utf8_lossy(&run.stderr);
    let err = err.trim();
    if err.is_empty() {
        return String::new();
    }
    let start = err.len().saturating_sub(STDERR_TAIL);
    let start = (start..err.len())
        .find(|i| err.is_char_boundary(*i))
        .unwrap_or(0);
    format!(": {}", &err[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(code: Option<i32>, stdout: &str, stderr: &str, timed_out: bool) -> RunResult {
        RunResult {
            exit_code: code,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
            truncated: false,
            timed_out,
            duration_ms: 1,
        }
    }

    #[test]
    fn json_output_is_the_result_and_text_is_wrapped() {
        assert_eq!(
            result(&run(Some(0), "{\"n\": 2}\n", "", false), None).unwrap(),
            "{\"n\":2}"
        );
        let text: Value =
            serde_json::from_str(&result(&run(Some(0), "2 words\n", "", false), None).unwrap())
                .unwrap();
        assert_eq!(text["output"], "2 words\n");
    }

    #[test]
    fn failures_name_the_exit_or_the_timeout_with_stderr() {
        let e = result(&run(Some(3), "", "boom\n", false), None).unwrap_err();
        assert!(
            matches!(&e, ToolError::Failed(m) if m == "the command failed (exit code 3): boom"),
            "{e:?}"
        );
        let e = result(&run(None, "", "", true), Some(500)).unwrap_err();
        assert!(
            matches!(&e, ToolError::Failed(m) if m.contains("within 500 ms")),
            "{e:?}"
        );
    }
}
