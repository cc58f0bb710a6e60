//! The `calculator` tool: evaluates arithmetic expressions (`+ - * / % ^`,
//! parentheses, unary minus, decimals), with an error that says what is
//! wrong and where.

use klieo::types::{FnTool, ToolDef, ToolError};
use serde_json::{json, Value};

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// The tool, ready for a `ToolSet`.
pub(crate) fn tool() -> FnTool<impl Fn(Value) -> Result<Value, ToolError> + Send + Sync> {
    let def = ToolDef::new(
        "calculator",
        "Evaluates an arithmetic expression such as \"17*23\" or \"(2+3)^2/5\".",
        json!({
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "The expression."}},
            "required": ["expression"]
        }),
    );
    FnTool::new(def, |args| {
        let expression = args
            .get("expression")
            .and_then(Value::as_str)
            .ok_or_else(|| ToolError::InvalidArgs {
                tool: "calculator".into(),
                reason: "expected {\"expression\": \"<arithmetic>\"}".into(),
            })?;
        let value = evaluate(expression).map_err(|reason| ToolError::InvalidArgs {
            tool: "calculator".into(),
            reason,
        })?;
        Ok(number(value))
    })
}

/// A whole number as an integer, anything else as a float.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// Evaluates `text`, or says why it cannot.
pub(crate) fn evaluate(text: &str) -> Result<f64, String> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    let value = parser.expression()?;
    parser.skip_spaces();
    if parser.at < parser.bytes.len() {
        return Err(parser.unexpected());
    }
    if !value.is_finite() {
        return Err(format!("the result of `{text}` is not a finite number"));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn skip_spaces(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_spaces();
        self.bytes.get(self.at).copied()
    }

    fn unexpected(&mut self) -> String {
        match self.peek() {
            Some(_) => {
                let rest = String::from_utf8_lossy(&self.bytes[self.at..]);
                let c = rest.chars().next().unwrap_or('?');
                format!("unexpected `{c}` at position {}", self.at + 1)
            }
            None => "the expression ended too soon".to_owned(),
        }
    }

    fn expression(&mut self) -> Result<f64, String> {
        let mut value = self.term()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.at += 1;
            let rhs = self.term()?;
            value = if op == b'+' { value + rhs } else { value - rhs };
        }
        Ok(value)
    }

    fn term(&mut self) -> Result<f64, String> {
        let mut value = self.unary()?;
        while let Some(op @ (b'*' | b'/' | b'%')) = self.peek() {
            self.at += 1;
            let rhs = self.unary()?;
            if op != b'*' && rhs == 0.0 {
                return Err("division by zero".to_owned());
            }
            value = match op {
                b'*' => value * rhs,
                b'/' => value / rhs,
                _ => value % rhs,
            };
        }
        Ok(value)
    }

    /// A sign binds looser than `^`, as in mathematics: `-2^2` is -4.
    fn unary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some(b'-') => {
                self.at += 1;
                Ok(-self.nested(Self::unary)?)
            }
            Some(b'+') => {
                self.at += 1;
                self.nested(Self::unary)
            }
            _ => self.power(),
        }
    }

    /// `^` groups to the right, and its exponent may have a sign
    /// (`2^-1`).
    fn power(&mut self) -> Result<f64, String> {
        let base = self.primary()?;
        if self.peek() == Some(b'^') {
            self.at += 1;
            let exponent = self.nested(Self::unary)?;
            return Ok(base.powf(exponent));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some(b'(') => {
                self.at += 1;
                let value = self.nested(Self::expression)?;
                if self.peek() != Some(b')') {
                    return Err(format!("missing `)` at position {}", self.at + 1));
                }
                self.at += 1;
                Ok(value)
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => {
                let start = self.at;
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|c| c.is_ascii_digit() || *c == b'.')
                {
                    self.at += 1;
                }
                let digits = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("");
                digits
                    .parse()
                    .map_err(|_| format!("`{digits}` is not a number"))
            }
            _ => Err(self.unexpected()),
        }
    }

    fn nested(&mut self, rule: fn(&mut Self) -> Result<f64, String>) -> Result<f64, String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.depth += 1;
        let value = rule(self);
        self.depth -= 1;
        value
    }
}

#[cfg(test)]
mod tests {
    use super::evaluate;

    #[test]
    fn evaluates_with_precedence_and_parentheses() {
        assert_eq!(evaluate("17*23"), Ok(391.0));
        assert_eq!(evaluate(" 2 + 3 * 4 "), Ok(14.0));
        assert_eq!(evaluate("(2+3)^2/5"), Ok(5.0));
        assert_eq!(evaluate("2^3^2"), Ok(512.0), "^ is right-associative");
        assert_eq!(evaluate("-3 - -2"), Ok(-1.0));
        assert_eq!(evaluate("7 % 4 + 0.5"), Ok(3.5));
    }

    #[test]
    fn a_sign_binds_looser_than_a_power() {
        assert_eq!(evaluate("-2^2"), Ok(-4.0));
        assert_eq!(evaluate("2^-1"), Ok(0.5));
        assert_eq!(evaluate("-2^0.5"), Ok(-(2f64.sqrt())));
        assert_eq!(evaluate("3*-2^2"), Ok(-12.0));
    }

    #[test]
    fn bad_input_says_what_and_where() {
        assert_eq!(
            evaluate("2 +* 3"),
            Err("unexpected `*` at position 4".into())
        );
        assert_eq!(evaluate("(1+2"), Err("missing `)` at position 5".into()));
        assert_eq!(evaluate(""), Err("the expression ended too soon".into()));
        assert_eq!(evaluate("1/0"), Err("division by zero".into()));
        assert_eq!(evaluate("1.2.3"), Err("`1.2.3` is not a number".into()));
        assert_eq!(evaluate("2 3"), Err("unexpected `3` at position 3".into()));
        assert_eq!(evaluate("x²"), Err("unexpected `x` at position 1".into()));
        assert!(
            evaluate("10^400").is_err(),
            "overflow is not a finite result"
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(evaluate(&deep), Err("nested deeper than 64 levels".into()));
        assert!(evaluate(&"-".repeat(10_000)).is_err());
    }
}
