//! `tools-basic`: general-purpose tools for agents.
//!
//! - `calculator`: safe arithmetic ([`calculator`]).
//! - `http_fetch`: one HTTP request to a host the operator allowed ([`fetch`]).
//! - `json_query`: RFC 9535 JSONPath over a JSON document ([`query`]).

mod calculator;
mod fetch;
mod query;

use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};
use serde::Deserialize;
use serde_json::{Value, json};

/// The plugin's tools.
pub struct BasicTools;

impl Toolbox for BasicTools {
    fn describe() -> Vec<ToolSpec> {
        vec![
            tool::spec(
                "calculator",
                "Evaluates an arithmetic expression: + - * / % ^ (right-associative), \
                 parentheses, unary minus, decimals and exponents, the constants pi and e, \
                 and the functions sqrt abs ln log10 log2 exp sin cos tan floor ceil round \
                 min max pow.",
                json!({
                    "type": "object",
                    "properties": {
                        "expression": {
                            "type": "string",
                            "maxLength": calculator::MAX_LENGTH,
                            "description": "For example: 2 * (3 + 4) ^ 2 / sqrt(16)",
                        },
                    },
                    "required": ["expression"],
                    "additionalProperties": false,
                }),
                Some(json!({
                    "type": "object",
                    "properties": { "value": { "type": "number" } },
                    "required": ["value"],
                })),
            ),
            tool::spec(
                "http_fetch",
                "Fetches a URL with GET, HEAD or POST and returns the status, headers and \
                 body (text, truncated to max_bytes). Only hosts the operator allowed are \
                 reachable.",
                fetch::parameters_schema(),
                Some(fetch::result_schema()),
            ),
            tool::spec(
                "json_query",
                "Selects values from a JSON document with an RFC 9535 JSONPath query and \
                 returns the matches in document order.",
                query::parameters_schema(),
                Some(query::result_schema()),
            ),
        ]
    }

    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
        let result = match name {
            "calculator" => calculate(tool::parse_args(arguments)?)?,
            "http_fetch" => fetch::fetch(tool::parse_args(arguments)?)?,
            "json_query" => query::query(tool::parse_args(arguments)?)?,
            other => return Err(tool::not_found(other)),
        };
        tool::to_result(&result)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalculatorArgs {
    expression: String,
}

fn calculate(args: CalculatorArgs) -> Result<Value, ToolError> {
    let value = calculator::evaluate(&args.expression).map_err(|e| tool::failed(e.to_string()))?;
    Ok(json!({ "value": number_json(value) }))
}

/// Whole numbers as JSON integers (`4`, not `4.0`) while exactly
/// representable; everything else as a float.
fn number_json(value: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.fract() == 0.0 && value.abs() < EXACT {
        json!(value as i64)
    } else {
        json!(value)
    }
}

hanzo_node_sdk::export_tool!(BasicTools);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_valid_schemas() {
        let specs = BasicTools::describe();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["calculator", "http_fetch", "json_query"]);
        for spec in &specs {
            let parameters: Value = serde_json::from_str(&spec.parameters).unwrap();
            assert_eq!(parameters["type"], "object");
            let result: Value = serde_json::from_str(spec.result.as_ref().unwrap()).unwrap();
            assert_eq!(result["type"], "object");
        }
    }

    #[test]
    fn calculator_results() {
        assert_eq!(
            BasicTools::invoke("calculator", r#"{"expression":"2 * (3 + 4)"}"#).unwrap(),
            r#"{"value":14}"#
        );
        assert_eq!(
            BasicTools::invoke("calculator", r#"{"expression":"1/4"}"#).unwrap(),
            r#"{"value":0.25}"#
        );
        match BasicTools::invoke("calculator", r#"{"expression":"1/0"}"#) {
            Err(ToolError::Failed(m)) => assert_eq!(m, "division by zero at position 2"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            BasicTools::invoke("calculator", r#"{"expr":"1"}"#),
            Err(ToolError::InvalidArguments(_))
        ));
    }

    #[test]
    fn json_query_through_invoke() {
        let out = BasicTools::invoke(
            "json_query",
            r#"{"document":{"a":[{"b":1},{"b":2}]},"path":"$.a[*].b"}"#,
        )
        .unwrap();
        assert_eq!(out, r#"{"matches":[1,2]}"#);
    }

    #[test]
    fn unknown_tool() {
        assert!(matches!(
            BasicTools::invoke("nope", "{}"),
            Err(ToolError::NotFound(_))
        ));
    }
}
