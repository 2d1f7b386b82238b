//! The `json_query` tool: RFC 9535 JSONPath over a JSON document.

use hanzo_node_sdk::tool::ToolError;
use serde::Deserialize;
use serde_json::{Value, json};
use serde_json_path::JsonPath;

/// The tool's arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    pub document: Value,
    pub path: String,
}

/// JSON Schema of the arguments.
pub fn parameters_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "document": { "description": "Any JSON value to query" },
            "path": {
                "type": "string",
                "description": "RFC 9535 JSONPath query, e.g. $.store.book[?@.price < 10].title",
            },
        },
        "required": ["document", "path"],
        "additionalProperties": false,
    })
}

/// JSON Schema of the result.
pub fn result_schema() -> Value {
    json!({
        "type": "object",
        "properties": { "matches": { "type": "array" } },
        "required": ["matches"],
    })
}

/// Runs the query; the matches come in document order.
pub fn query(args: Args) -> Result<Value, ToolError> {
    let path = JsonPath::parse(&args.path)
        .map_err(|e| ToolError::Failed(format!("invalid JSONPath `{}`: {e}", args.path)))?;
    let matches: Vec<&Value> = path.query(&args.document).all();
    Ok(json!({ "matches": matches }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(document: Value, path: &str) -> Value {
        query(Args {
            document,
            path: path.to_string(),
        })
        .unwrap()["matches"]
            .clone()
    }

    fn store() -> Value {
        // The example document of RFC 9535, section 1.5.
        json!({ "store": {
            "book": [
              { "category": "reference", "author": "Nigel Rees",
                "title": "Sayings of the Century", "price": 8.95 },
              { "category": "fiction", "author": "Evelyn Waugh",
                "title": "Sword of Honour", "price": 12.99 },
              { "category": "fiction", "author": "Herman Melville",
                "title": "Moby Dick", "isbn": "0-553-21311-3", "price": 8.99 },
              { "category": "fiction", "author": "J. R. R. Tolkien",
                "title": "The Lord of the Rings", "isbn": "0-395-19395-8", "price": 22.99 }
            ],
            "bicycle": { "color": "red", "price": 399 }
        }})
    }

    #[test]
    fn rfc_examples() {
        assert_eq!(
            run(store(), "$.store.book[*].author"),
            json!([
                "Nigel Rees",
                "Evelyn Waugh",
                "Herman Melville",
                "J. R. R. Tolkien"
            ])
        );
        assert_eq!(run(store(), "$..book[2].title"), json!(["Moby Dick"]));
        assert_eq!(
            run(store(), "$..book[-1].title"),
            json!(["The Lord of the Rings"])
        );
        assert_eq!(
            run(store(), "$..book[?@.isbn].title"),
            json!(["Moby Dick", "The Lord of the Rings"])
        );
        assert_eq!(
            run(store(), "$..book[?@.price<10].title"),
            json!(["Sayings of the Century", "Moby Dick"])
        );
        assert_eq!(run(store(), "$..book[:2].price"), json!([8.95, 12.99]));
        assert_eq!(
            run(store(), "$.store.bicycle"),
            json!([{"color": "red", "price": 399}])
        );
    }

    #[test]
    fn functions_and_empty_results() {
        assert_eq!(
            run(store(), "$.store.book[?length(@.title) > 15].title"),
            json!(["Sayings of the Century", "The Lord of the Rings"])
        );
        assert_eq!(
            run(store(), "$.store.book[?match(@.author, 'J.*')].author"),
            json!(["J. R. R. Tolkien"])
        );
        assert_eq!(run(store(), "$.nothing.here"), json!([]));
        assert_eq!(run(json!(5), "$"), json!([5]));
    }

    #[test]
    fn invalid_paths_fail_with_the_reason() {
        let e = query(Args {
            document: json!({}),
            path: "$[".to_string(),
        })
        .unwrap_err();
        match e {
            ToolError::Failed(m) => assert!(m.starts_with("invalid JSONPath `$[`")),
            other => panic!("{other:?}"),
        }
    }
}
