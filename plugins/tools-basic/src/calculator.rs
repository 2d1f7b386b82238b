//! The `calculator` tool: a safe arithmetic evaluator (recursive descent,
//! no `eval`, no variables, no side effects).
//!
//! Grammar, loosest binding first:
//!
//! ```text
//! expr    := term (('+' | '-') term)*
//! term    := unary (('*' | '/' | '%') unary)*
//! unary   := ('-' | '+') unary | power
//! power   := primary (('^' | '**') unary)?        right-associative
//! primary := number | constant | function '(' expr (',' expr)* ')' | '(' expr ')'
//! ```
//!
//! So `-2^2` is `-4` and `2^3^2` is `512`, as in mathematics. Constants are
//! `pi` and `e`; names are case-insensitive.

use std::fmt;

/// Longest accepted expression, in characters.
pub const MAX_LENGTH: usize = 10_000;
/// Deepest accepted nesting of parentheses, calls and unary signs.
pub const MAX_DEPTH: usize = 256;

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct CalcError {
    /// 1-based character position the error refers to, when there is one.
    pub position: Option<usize>,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for CalcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{} at position {p}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CalcError {}

/// Evaluates `expression`; the result is always finite.
pub fn evaluate(expression: &str) -> Result<f64, CalcError> {
    let length = expression.chars().count();
    if length > MAX_LENGTH {
        return Err(CalcError {
            position: None,
            message: format!("expression is {length} characters long; the limit is {MAX_LENGTH}"),
        });
    }
    let tokens = tokenize(expression)?;
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        depth: 0,
        end: length + 1,
    };
    if parser.peek().is_none() {
        return Err(CalcError {
            position: None,
            message: "empty expression".to_string(),
        });
    }
    let value = parser.expr()?;
    if let Some(token) = parser.peek() {
        return Err(parser.error_at(token.position, format!("unexpected {}", token.kind)));
    }
    if !value.is_finite() {
        return Err(CalcError {
            position: None,
            message: format!("the result is not a finite number ({value})"),
        });
    }
    // Avoid reporting `-0` for things like `-0 * 5`.
    Ok(if value == 0.0 { 0.0 } else { value })
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Number(f64),
    Name(String),
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Open,
    Close,
    Comma,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Number(n) => write!(f, "number {n}"),
            Kind::Name(n) => write!(f, "`{n}`"),
            Kind::Plus => f.write_str("`+`"),
            Kind::Minus => f.write_str("`-`"),
            Kind::Star => f.write_str("`*`"),
            Kind::Slash => f.write_str("`/`"),
            Kind::Percent => f.write_str("`%`"),
            Kind::Caret => f.write_str("`^`"),
            Kind::Open => f.write_str("`(`"),
            Kind::Close => f.write_str("`)`"),
            Kind::Comma => f.write_str("`,`"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// 1-based character position of the token's first character.
    position: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>, CalcError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let position = i + 1;
        let single = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '+' => Some(Kind::Plus),
            '-' | '\u{2212}' => Some(Kind::Minus),
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                Some(Kind::Caret)
            }
            '*' | '\u{00d7}' => Some(Kind::Star),
            '/' | '\u{00f7}' => Some(Kind::Slash),
            '%' => Some(Kind::Percent),
            '^' => Some(Kind::Caret),
            '(' => Some(Kind::Open),
            ')' => Some(Kind::Close),
            ',' => Some(Kind::Comma),
            _ => None,
        };
        if let Some(kind) = single {
            tokens.push(Token { kind, position });
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i < chars.len() && chars[i] == '.' {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let mantissa: String = chars[start..i].iter().collect();
            if mantissa == "." {
                return Err(CalcError {
                    position: Some(position),
                    message: "a lone `.` is not a number".to_string(),
                });
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                let digits_start = j;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                if j == digits_start {
                    return Err(CalcError {
                        position: Some(i + 1),
                        message: "exponent without digits".to_string(),
                    });
                }
                i = j;
            }
            let literal: String = chars[start..i].iter().collect();
            let value: f64 = literal.parse().map_err(|_| CalcError {
                position: Some(position),
                message: format!("invalid number `{literal}`"),
            })?;
            tokens.push(Token {
                kind: Kind::Number(value),
                position,
            });
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token {
                kind: Kind::Name(
                    chars[start..i]
                        .iter()
                        .collect::<String>()
                        .to_ascii_lowercase(),
                ),
                position,
            });
            continue;
        }
        return Err(CalcError {
            position: Some(position),
            message: format!("unexpected character `{c}`"),
        });
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    depth: usize,
    /// Position reported for "unexpected end".
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn eat(&mut self, kind: &Kind) -> bool {
        if self.peek().is_some_and(|t| &t.kind == kind) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn error_at(&self, position: usize, message: impl Into<String>) -> CalcError {
        CalcError {
            position: Some(position),
            message: message.into(),
        }
    }

    fn expect(&mut self, kind: Kind) -> Result<(), CalcError> {
        match self.next() {
            Some(t) if t.kind == kind => Ok(()),
            Some(t) => Err(self.error_at(t.position, format!("expected {kind}, found {}", t.kind))),
            None => Err(self.error_at(self.end, format!("expected {kind}, found the end"))),
        }
    }

    /// Guards every recursive descent step against stack exhaustion.
    fn enter(&mut self, position: usize) -> Result<(), CalcError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(
                position,
                format!("expression nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<f64, CalcError> {
        let mut value = self.term()?;
        loop {
            if self.eat(&Kind::Plus) {
                value += self.term()?;
            } else if self.eat(&Kind::Minus) {
                value -= self.term()?;
            } else {
                return Ok(value);
            }
        }
    }

    fn term(&mut self) -> Result<f64, CalcError> {
        let mut value = self.unary()?;
        loop {
            let Some(token) = self.peek() else {
                return Ok(value);
            };
            let position = token.position;
            match token.kind {
                Kind::Star => {
                    self.at += 1;
                    value *= self.unary()?;
                }
                Kind::Slash => {
                    self.at += 1;
                    let divisor = self.unary()?;
                    if divisor == 0.0 {
                        return Err(self.error_at(position, "division by zero"));
                    }
                    value /= divisor;
                }
                Kind::Percent => {
                    self.at += 1;
                    let divisor = self.unary()?;
                    if divisor == 0.0 {
                        return Err(self.error_at(position, "modulo by zero"));
                    }
                    value %= divisor;
                }
                _ => return Ok(value),
            }
        }
    }

    fn unary(&mut self) -> Result<f64, CalcError> {
        let sign = match self.peek() {
            Some(Token {
                kind: Kind::Minus,
                position,
            }) => Some((-1.0, *position)),
            Some(Token {
                kind: Kind::Plus,
                position,
            }) => Some((1.0, *position)),
            _ => None,
        };
        let Some((sign, position)) = sign else {
            return self.power();
        };
        self.at += 1;
        self.enter(position)?;
        let value = sign * self.unary()?;
        self.depth -= 1;
        Ok(value)
    }

    fn power(&mut self) -> Result<f64, CalcError> {
        let base = self.primary()?;
        let Some(position) = self
            .peek()
            .filter(|t| t.kind == Kind::Caret)
            .map(|t| t.position)
        else {
            return Ok(base);
        };
        self.at += 1;
        // The exponent is a `unary`, which recurses into `power` again:
        // that makes `^` right-associative and allows `2^-1`.
        self.enter(position)?;
        let exponent = self.unary()?;
        self.depth -= 1;
        Ok(base.powf(exponent))
    }

    fn primary(&mut self) -> Result<f64, CalcError> {
        let Some(token) = self.next() else {
            return Err(self.error_at(self.end, "unexpected end of expression"));
        };
        match token.kind {
            Kind::Number(n) => Ok(n),
            Kind::Open => {
                self.enter(token.position)?;
                let value = self.expr()?;
                self.expect(Kind::Close)?;
                self.depth -= 1;
                Ok(value)
            }
            Kind::Name(name) => {
                if self.eat(&Kind::Open) {
                    self.enter(token.position)?;
                    let mut args = Vec::new();
                    if !self.eat(&Kind::Close) {
                        loop {
                            args.push(self.expr()?);
                            if self.eat(&Kind::Comma) {
                                continue;
                            }
                            self.expect(Kind::Close)?;
                            break;
                        }
                    }
                    self.depth -= 1;
                    call(&name, &args).map_err(|m| self.error_at(token.position, m))
                } else {
                    match name.as_str() {
                        "pi" => Ok(std::f64::consts::PI),
                        "e" => Ok(std::f64::consts::E),
                        _ if is_function(&name) => Err(self.error_at(
                            token.position,
                            format!("function `{name}` needs parentheses: {name}(...)"),
                        )),
                        _ => {
                            Err(self
                                .error_at(token.position, format!("unknown identifier `{name}`")))
                        }
                    }
                }
            }
            other => Err(self.error_at(
                token.position,
                format!("expected a number, `(` or a name, found {other}"),
            )),
        }
    }
}

const UNARY_FUNCTIONS: &[&str] = &[
    "sqrt", "abs", "ln", "log10", "log2", "exp", "sin", "cos", "tan", "floor", "ceil", "round",
];

fn is_function(name: &str) -> bool {
    UNARY_FUNCTIONS.contains(&name) || matches!(name, "min" | "max" | "pow")
}

fn call(name: &str, args: &[f64]) -> Result<f64, String> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{name}() takes {n} argument{}, got {}",
                if n == 1 { "" } else { "s" },
                args.len()
            ))
        }
    };
    if UNARY_FUNCTIONS.contains(&name) {
        arity(1)?;
        let x = args[0];
        let positive = |what: &str| {
            if x > 0.0 {
                Ok(())
            } else {
                Err(format!(
                    "{what} is only defined for positive numbers, got {x}"
                ))
            }
        };
        return match name {
            "sqrt" if x < 0.0 => Err(format!("sqrt of a negative number ({x})")),
            "sqrt" => Ok(x.sqrt()),
            "abs" => Ok(x.abs()),
            "ln" => positive("ln").map(|()| x.ln()),
            "log10" => positive("log10").map(|()| x.log10()),
            "log2" => positive("log2").map(|()| x.log2()),
            "exp" => Ok(x.exp()),
            "sin" => Ok(x.sin()),
            "cos" => Ok(x.cos()),
            "tan" => Ok(x.tan()),
            "floor" => Ok(x.floor()),
            "ceil" => Ok(x.ceil()),
            // Half away from zero: round(2.5) = 3, round(-2.5) = -3.
            "round" => Ok(x.round()),
            _ => unreachable!("every unary function is handled"),
        };
    }
    match name {
        "pow" => {
            arity(2)?;
            Ok(args[0].powf(args[1]))
        }
        "min" | "max" => {
            if args.is_empty() {
                return Err(format!("{name}() needs at least one argument"));
            }
            let pick = if name == "min" { f64::min } else { f64::max };
            Ok(args[1..].iter().copied().fold(args[0], pick))
        }
        _ => Err(format!("unknown function `{name}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(s: &str) -> f64 {
        evaluate(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        evaluate(s).unwrap_err().to_string()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn arithmetic_and_precedence() {
        assert_eq!(eval("1 + 2 * 3"), 7.0);
        assert_eq!(eval("(1 + 2) * 3"), 9.0);
        assert_eq!(eval("10 - 4 - 3"), 3.0, "left-associative");
        assert_eq!(eval("100 / 10 / 5"), 2.0);
        assert_eq!(eval("7 % 4"), 3.0);
        assert_eq!(eval("-7 % 4"), -3.0);
        assert_eq!(eval("2 * 3 % 4"), 2.0);
    }

    #[test]
    fn powers() {
        assert_eq!(eval("2^10"), 1024.0);
        assert_eq!(eval("2^3^2"), 512.0, "right-associative");
        assert_eq!(eval("-2^2"), -4.0, "unary minus binds looser than ^");
        assert_eq!(eval("(-2)^2"), 4.0);
        assert_eq!(eval("2^-1"), 0.5);
        assert_eq!(eval("2**3"), 8.0);
        assert_eq!(eval("2 * 3 ^ 2"), 18.0);
    }

    #[test]
    fn unary_signs() {
        assert_eq!(eval("--3"), 3.0);
        assert_eq!(eval("-+-3"), 3.0);
        assert_eq!(eval("4 - -2"), 6.0);
        assert_eq!(eval("-0 * 5"), 0.0);
        assert!(eval("-0 * 5").is_sign_positive());
    }

    #[test]
    fn numbers() {
        assert_eq!(eval("3.25"), 3.25);
        assert_eq!(eval(".5 + 1."), 1.5);
        assert_eq!(eval("1e3"), 1000.0);
        assert_eq!(eval("2.5E-3"), 0.0025);
        assert_eq!(eval("1e+2"), 100.0);
        assert_eq!(eval("  42  "), 42.0);
    }

    #[test]
    fn constants_and_functions() {
        assert!(close(eval("pi"), std::f64::consts::PI));
        assert!(close(eval("E"), std::f64::consts::E));
        assert_eq!(eval("sqrt(16)"), 4.0);
        assert_eq!(eval("abs(-3)"), 3.0);
        assert!(close(eval("ln(e)"), 1.0));
        assert_eq!(eval("log10(1000)"), 3.0);
        assert_eq!(eval("log2(8)"), 3.0);
        assert!(close(eval("exp(1)"), std::f64::consts::E));
        assert!(close(eval("sin(pi/2)"), 1.0));
        assert!(close(eval("cos(0)"), 1.0));
        assert!(close(eval("tan(pi/4)"), 1.0));
        assert_eq!(eval("floor(-2.5)"), -3.0);
        assert_eq!(eval("ceil(2.1)"), 3.0);
        assert_eq!(eval("round(2.5)"), 3.0);
        assert_eq!(eval("round(-2.5)"), -3.0);
        assert_eq!(eval("min(3, 1, 2)"), 1.0);
        assert_eq!(eval("max(3, 1 + 9, 2)"), 10.0);
        assert_eq!(eval("max(7)"), 7.0);
        assert_eq!(eval("pow(2, 0.5) ^ 2").round(), 2.0);
        assert_eq!(eval("SQRT(sqrt(81))"), 3.0);
    }

    #[test]
    fn division_by_zero() {
        assert_eq!(err("1 / 0"), "division by zero at position 3");
        assert_eq!(err("5 % (2 - 2)"), "modulo by zero at position 3");
    }

    #[test]
    fn unknown_names() {
        assert_eq!(err("2 * foo"), "unknown identifier `foo` at position 5");
        assert_eq!(err("bar(1)"), "unknown function `bar` at position 1");
        assert_eq!(
            err("sqrt + 1"),
            "function `sqrt` needs parentheses: sqrt(...) at position 1"
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        assert_eq!(err("1 +"), "unexpected end of expression at position 4");
        assert_eq!(err("(1 + 2"), "expected `)`, found the end at position 7");
        assert_eq!(
            err("1 + * 2"),
            "expected a number, `(` or a name, found `*` at position 5"
        );
        assert_eq!(err("1 2"), "unexpected number 2 at position 3");
        assert_eq!(err("2 $ 3"), "unexpected character `$` at position 3");
        assert_eq!(err("1e"), "exponent without digits at position 2");
        assert_eq!(err("."), "a lone `.` is not a number at position 1");
        assert_eq!(err(""), "empty expression");
        assert_eq!(err("   "), "empty expression");
        assert_eq!(
            err("min()"),
            "min() needs at least one argument at position 1"
        );
        assert_eq!(
            err("sqrt(1, 2)"),
            "sqrt() takes 1 argument, got 2 at position 1"
        );
        assert_eq!(
            err("pow(2)"),
            "pow() takes 2 arguments, got 1 at position 1"
        );
        assert_eq!(err("é"), "unexpected character `é` at position 1");
    }

    #[test]
    fn domain_and_non_finite_results() {
        assert!(err("sqrt(-1)").contains("sqrt of a negative number"));
        assert!(err("ln(0)").contains("only defined for positive numbers"));
        assert!(err("log10(-5)").contains("only defined for positive numbers"));
        assert!(err("10^400").contains("not a finite number"));
        assert!(err("exp(1000)").contains("not a finite number"));
        assert!(err("(-8)^(1/3)").contains("not a finite number"));
    }

    #[test]
    fn limits() {
        let long = "1+".repeat(MAX_LENGTH / 2) + "1";
        assert!(err(&long).contains("limit is 10000"));
        let just_fits = "1+".repeat((MAX_LENGTH - 1) / 2) + "1";
        assert_eq!(eval(&just_fits), ((MAX_LENGTH - 1) / 2 + 1) as f64);

        let deep = "(".repeat(300) + "1" + &")".repeat(300);
        assert!(err(&deep).contains("nested deeper than 256"));
        let ok = "(".repeat(MAX_DEPTH) + "1" + &")".repeat(MAX_DEPTH);
        assert_eq!(eval(&ok), 1.0);
        let too_deep = "(".repeat(MAX_DEPTH + 1) + "1" + &")".repeat(MAX_DEPTH + 1);
        assert!(err(&too_deep).contains("nested deeper than 256"));
        let towers = "2^".repeat(2000) + "1";
        assert!(err(&towers).contains("nested deeper than 256"));
        let signs = "-".repeat(1000) + "1";
        assert!(err(&signs).contains("nested deeper than 256"));
        let calls = "abs(".repeat(300) + "1" + &")".repeat(300);
        assert!(err(&calls).contains("nested deeper than 256"));
    }
}
