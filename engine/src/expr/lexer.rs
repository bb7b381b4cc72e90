//! Splits the inside of one `#{...}` into tokens, up to and including its closing `}`.

use std::fmt;

use serde_json::Number;

use super::ExprError;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok<'t> {
    Num(Number),
    Str(String),
    Ident(&'t str),
    True,
    False,
    Null,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Bang,
    Minus,
    Plus,
    Star,
    Slash,
    Percent,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    AndAnd,
    OrOr,
    /// The closing `}`.
    End,
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Tok::Num(n) => return write!(f, "number {n}"),
            Tok::Str(_) => "a string",
            Tok::Ident(name) => return write!(f, "`{name}`"),
            Tok::True => "`true`",
            Tok::False => "`false`",
            Tok::Null => "`null`",
            Tok::LParen => "`(`",
            Tok::RParen => "`)`",
            Tok::LBracket => "`[`",
            Tok::RBracket => "`]`",
            Tok::Comma => "`,`",
            Tok::Dot => "`.`",
            Tok::Bang => "`!`",
            Tok::Minus => "`-`",
            Tok::Plus => "`+`",
            Tok::Star => "`*`",
            Tok::Slash => "`/`",
            Tok::Percent => "`%`",
            Tok::EqEq => "`==`",
            Tok::NotEq => "`!=`",
            Tok::Lt => "`<`",
            Tok::Le => "`<=`",
            Tok::Gt => "`>`",
            Tok::Ge => "`>=`",
            Tok::AndAnd => "`&&`",
            Tok::OrOr => "`||`",
            Tok::End => "the end of the expression",
        };
        f.write_str(s)
    }
}

/// A token with its byte span in the template text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'t> {
    pub tok: Tok<'t>,
    pub pos: usize,
    pub end: usize,
}

/// Lexes `text` from byte `start` (just after `#{`, which begins at byte `open`) through the
/// closing `}`. Returns the tokens (the last one is [`Tok::End`]) and the byte offset after `}`.
pub(crate) fn lex(
    text: &str,
    start: usize,
    open: usize,
) -> Result<(Vec<Token<'_>>, usize), ExprError> {
    let mut lexer = Lexer { text, pos: start };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_whitespace();
        let pos = lexer.pos;
        let Some(c) = lexer.peek() else {
            return Err(ExprError::at(text, open, "unterminated `#{` (missing `}`)"));
        };
        let tok = lexer.token(c)?;
        let done = tok == Tok::End;
        tokens.push(Token {
            tok,
            pos,
            end: lexer.pos,
        });
        if done {
            return Ok((tokens, lexer.pos));
        }
    }
}

struct Lexer<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> Lexer<'t> {
    fn rest(&self) -> &'t str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn error(&self, pos: usize, message: impl Into<String>) -> ExprError {
        ExprError::at(self.text, pos, message)
    }

    /// Lexes the token starting with `c` at the current position.
    fn token(&mut self, c: char) -> Result<Tok<'t>, ExprError> {
        let pos = self.pos;
        if c.is_ascii_digit() {
            return self.number();
        }
        if c.is_alphabetic() || c == '_' {
            return Ok(self.word());
        }
        if c == '\'' || c == '"' {
            return self.string(c);
        }
        self.bump();
        let two = |lexer: &mut Self, next: char, yes: Tok<'t>, no: Tok<'t>| {
            if lexer.peek() == Some(next) {
                lexer.bump();
                yes
            } else {
                no
            }
        };
        let tok = match c {
            '}' => Tok::End,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            '.' => Tok::Dot,
            '-' => Tok::Minus,
            '+' => Tok::Plus,
            '*' => Tok::Star,
            '/' => Tok::Slash,
            '%' => Tok::Percent,
            '!' => two(self, '=', Tok::NotEq, Tok::Bang),
            '<' => two(self, '=', Tok::Le, Tok::Lt),
            '>' => two(self, '=', Tok::Ge, Tok::Gt),
            '=' | '&' | '|' if self.peek() == Some(c) => {
                self.bump();
                match c {
                    '=' => Tok::EqEq,
                    '&' => Tok::AndAnd,
                    _ => Tok::OrOr,
                }
            }
            '=' | '&' | '|' => {
                return Err(self.error(pos, format!("unexpected `{c}` (did you mean `{c}{c}`?)")))
            }
            other => return Err(self.error(pos, format!("unexpected character `{other}`"))),
        };
        Ok(tok)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }

    fn number(&mut self) -> Result<Tok<'t>, ExprError> {
        let start = self.pos;
        self.digits();
        let mut float = false;
        let mut after = self.rest().chars();
        if after.next() == Some('.') && after.next().is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            self.bump();
            self.digits();
        }
        let mut after = self.rest().chars();
        if matches!(after.next(), Some('e' | 'E')) {
            let mut next = after.next();
            if matches!(next, Some('+' | '-')) {
                next = after.next();
            }
            if next.is_some_and(|c| c.is_ascii_digit()) {
                float = true;
                self.bump();
                if matches!(self.peek(), Some('+' | '-')) {
                    self.bump();
                }
                self.digits();
            }
        }
        let literal = self.text.get(start..self.pos).unwrap_or("");
        let number = if float {
            None
        } else {
            literal.parse::<u64>().ok().map(Number::from)
        };
        let number = match number {
            Some(n) => Some(n),
            None => literal.parse::<f64>().ok().and_then(Number::from_f64),
        };
        number
            .map(Tok::Num)
            .ok_or_else(|| self.error(start, format!("number `{literal}` is out of range")))
    }

    fn word(&mut self) -> Tok<'t> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        match self.text.get(start..self.pos).unwrap_or("") {
            "true" => Tok::True,
            "false" => Tok::False,
            "null" => Tok::Null,
            word => Tok::Ident(word),
        }
    }

    fn string(&mut self, quote: char) -> Result<Tok<'t>, ExprError> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(self.error(start, "unterminated string")),
                Some(c) if c == quote => return Ok(Tok::Str(out)),
                Some('\\') => out.push(self.escape(at)?),
                Some(c) => out.push(c),
            }
        }
    }

    /// Lexes the escape whose backslash is at byte `at`.
    fn escape(&mut self, at: usize) -> Result<char, ExprError> {
        let c = match self.bump() {
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('0') => '\0',
            Some(c @ ('\\' | '\'' | '"' | '/')) => c,
            Some('u') => return self.unicode(at),
            Some(c) => return Err(self.error(at, format!("invalid escape `\\{c}`"))),
            None => return Err(self.error(at, "unterminated string")),
        };
        Ok(c)
    }

    fn unicode(&mut self, at: usize) -> Result<char, ExprError> {
        let braced = self.peek() == Some('{');
        if braced {
            self.bump();
        }
        let mut code: u32 = 0;
        let mut count = 0;
        while let Some(digit) = self.peek().and_then(|c| c.to_digit(16)) {
            if (!braced && count == 4) || count == 6 {
                break;
            }
            self.bump();
            code = code * 16 + digit;
            count += 1;
        }
        let closed = !braced || self.bump() == Some('}');
        let complete = if braced { count > 0 } else { count == 4 };
        match char::from_u32(code) {
            Some(c) if closed && complete => Ok(c),
            _ => Err(self.error(
                at,
                "invalid unicode escape (expected `\\uXXXX` or `\\u{X…}`)",
            )),
        }
    }
}
