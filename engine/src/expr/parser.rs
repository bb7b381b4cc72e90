//! Parses the tokens of one `#{...}` into an expression tree (a Pratt parser).

use serde_json::{Number, Value};

use super::functions::Func;
use super::lexer::{Tok, Token};
use super::{ExprError, MAX_DEPTH};

/// A compiled expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    /// A constant.
    Lit(Value),
    /// A variable or the result of an expression, followed by fields and indexes.
    Path(Path),
    /// Whether a variable path resolves.
    Exists(Path),
    /// `secret('name')`: the run's secret `name`.
    Secret(std::sync::Arc<str>),
    /// `!x`.
    Not(Box<Expr>),
    /// `-x`.
    Neg(Box<Expr>),
    /// `a op b`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A built-in function call (arity checked).
    Call(Func, Box<[Expr]>),
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    /// The operator as written.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }

    /// The operator of an infix token, with its binding power.
    fn of(tok: &Tok<'_>) -> Option<(BinOp, u8)> {
        let op = match tok {
            Tok::OrOr => (BinOp::Or, 1),
            Tok::AndAnd => (BinOp::And, 2),
            Tok::EqEq => (BinOp::Eq, 3),
            Tok::NotEq => (BinOp::Ne, 3),
            Tok::Lt => (BinOp::Lt, 3),
            Tok::Le => (BinOp::Le, 3),
            Tok::Gt => (BinOp::Gt, 3),
            Tok::Ge => (BinOp::Ge, 3),
            Tok::Plus => (BinOp::Add, 4),
            Tok::Minus => (BinOp::Sub, 4),
            Tok::Star => (BinOp::Mul, 5),
            Tok::Slash => (BinOp::Div, 5),
            Tok::Percent => (BinOp::Rem, 5),
            _ => return None,
        };
        Some(op)
    }
}

/// Binding power of the prefix operators, above every infix operator.
const PREFIX_BP: u8 = 6;

/// Where a path starts.
#[derive(Debug, Clone)]
pub(crate) enum Base {
    /// A session variable.
    Var(Box<str>),
    /// Any expression (a call, a parenthesized expression).
    Expr(Box<Expr>),
}

/// A base followed by field accesses and indexes: `user.items[0].id`.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    pub base: Base,
    pub segs: Box<[Seg]>,
    /// The source text, for error messages.
    pub text: Box<str>,
}

/// One step of a path.
#[derive(Debug, Clone)]
pub(crate) enum Seg {
    /// `.name`
    Field(Box<str>),
    /// `[expr]`
    Index(Expr),
}

/// Parses `tokens` (which end with [`Tok::End`]) lexed from `text`.
pub(crate) fn parse(text: &str, tokens: &[Token<'_>]) -> Result<Expr, ExprError> {
    let mut parser = Parser {
        text,
        tokens,
        i: 0,
        nesting: 0,
    };
    if parser.peek().tok == Tok::End {
        return Err(parser.error(parser.peek().pos, "empty expression"));
    }
    let (expr, _) = parser.expr(0)?;
    let next = parser.peek();
    if next.tok != Tok::End {
        return Err(parser.error(
            next.pos,
            format!("unexpected {} after the expression", next.tok),
        ));
    }
    Ok(expr)
}

struct Parser<'p, 't> {
    text: &'p str,
    tokens: &'p [Token<'t>],
    i: usize,
    /// Current recursion depth of the parser.
    nesting: usize,
}

/// The end-of-expression token, returned when reading past the tokens.
const END: Token<'static> = Token {
    tok: Tok::End,
    pos: 0,
    end: 0,
};

impl<'p, 't> Parser<'p, 't> {
    fn peek(&self) -> &'p Token<'t> {
        self.tokens.get(self.i).unwrap_or(&END)
    }

    fn next(&mut self) -> &'p Token<'t> {
        let token = self.peek();
        if token.tok != Tok::End {
            self.i += 1;
        }
        token
    }

    fn error(&self, pos: usize, message: impl Into<String>) -> ExprError {
        ExprError::at(self.text, pos, message)
    }

    fn too_deep(&self, pos: usize) -> ExprError {
        self.error(
            pos,
            format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
        )
    }

    /// Checks the depth `depth` of a node built at byte `pos`.
    fn depth(&self, depth: usize, pos: usize) -> Result<usize, ExprError> {
        if depth > MAX_DEPTH {
            return Err(self.too_deep(pos));
        }
        Ok(depth)
    }

    fn expect(&mut self, tok: Tok<'static>, what: &str) -> Result<&'p Token<'t>, ExprError> {
        let token = self.next();
        if token.tok != tok {
            return Err(self.error(token.pos, format!("expected {what}, found {}", token.tok)));
        }
        Ok(token)
    }

    /// Parses an expression whose infix operators bind tighter than `min_bp`; returns it with
    /// its depth.
    fn expr(&mut self, min_bp: u8) -> Result<(Expr, usize), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(self.too_deep(self.peek().pos));
        }
        let (mut lhs, mut depth) = self.prefix()?;
        while let Some((op, bp)) = BinOp::of(&self.peek().tok) {
            if bp <= min_bp {
                break;
            }
            let pos = self.next().pos;
            let (rhs, rhs_depth) = self.expr(bp)?;
            depth = self.depth(depth.max(rhs_depth) + 1, pos)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        self.nesting -= 1;
        Ok((lhs, depth))
    }

    fn prefix(&mut self) -> Result<(Expr, usize), ExprError> {
        let token = self.next();
        let pos = token.pos;
        let literal = |v: Value| Ok((Expr::Lit(v), 1));
        match &token.tok {
            Tok::Num(n) => literal(Value::Number(n.clone())),
            Tok::Str(s) => literal(Value::String(s.clone())),
            Tok::True => literal(Value::Bool(true)),
            Tok::False => literal(Value::Bool(false)),
            Tok::Null => literal(Value::Null),
            Tok::Ident(name) if self.peek().tok == Tok::LParen => {
                let (call, depth) = self.call(name, pos)?;
                self.postfix(Base::Expr(Box::new(call)), depth, pos)
            }
            Tok::Ident(name) => self.postfix(Base::Var((*name).into()), 0, pos),
            Tok::LParen => {
                let (inner, depth) = self.expr(0)?;
                self.expect(Tok::RParen, "`)`")?;
                if self.at_postfix() {
                    return self.postfix(Base::Expr(Box::new(inner)), depth, pos);
                }
                Ok((inner, depth))
            }
            Tok::Bang => {
                let (operand, depth) = self.expr(PREFIX_BP)?;
                Ok((Expr::Not(Box::new(operand)), self.depth(depth + 1, pos)?))
            }
            Tok::Minus => {
                let (operand, depth) = self.expr(PREFIX_BP)?;
                if let Expr::Lit(Value::Number(n)) = &operand {
                    if let Some(negated) = negate_literal(n) {
                        return Ok((Expr::Lit(Value::Number(negated)), depth));
                    }
                }
                Ok((Expr::Neg(Box::new(operand)), self.depth(depth + 1, pos)?))
            }
            other => Err(self.error(pos, format!("expected an expression, found {other}"))),
        }
    }

    fn at_postfix(&self) -> bool {
        matches!(self.peek().tok, Tok::Dot | Tok::LBracket)
    }

    /// Parses the fields and indexes after `base` (whose depth is `depth` and which starts at
    /// byte `start`).
    fn postfix(
        &mut self,
        base: Base,
        depth: usize,
        start: usize,
    ) -> Result<(Expr, usize), ExprError> {
        let mut segs = Vec::new();
        let mut depth = depth;
        let mut end = self
            .tokens
            .get(self.i.wrapping_sub(1))
            .map_or(start, |t| t.end);
        while self.at_postfix() {
            let token = self.next();
            if token.tok == Tok::Dot {
                let field = self.next();
                let name = match &field.tok {
                    Tok::Ident(name) => *name,
                    Tok::True => "true",
                    Tok::False => "false",
                    Tok::Null => "null",
                    other => {
                        return Err(self.error(
                            field.pos,
                            format!("expected a field name after `.`, found {other}"),
                        ));
                    }
                };
                segs.push(Seg::Field(name.into()));
                end = field.end;
            } else {
                let (index, index_depth) = self.expr(0)?;
                depth = depth.max(index_depth);
                end = self.expect(Tok::RBracket, "`]`")?.end;
                segs.push(Seg::Index(index));
            }
        }
        let text = self.text.get(start..end).unwrap_or("").into();
        let depth = self.depth(depth + 1, start)?;
        Ok((
            Expr::Path(Path {
                base,
                segs: segs.into(),
                text,
            }),
            depth,
        ))
    }

    /// Parses the arguments of a call to `name` (at byte `pos`).
    fn call(&mut self, name: &str, pos: usize) -> Result<(Expr, usize), ExprError> {
        let func = Func::by_name(name)
            .ok_or_else(|| self.error(pos, format!("unknown function `{name}`")))?;
        self.expect(Tok::LParen, "`(`")?;
        let mut args = Vec::new();
        let mut depth = 0;
        if self.peek().tok == Tok::RParen {
            self.next();
        } else {
            loop {
                let arg_pos = self.peek().pos;
                let (arg, arg_depth) = self.expr(0)?;
                depth = depth.max(arg_depth);
                args.push((arg, arg_pos));
                let token = self.next();
                match token.tok {
                    Tok::Comma => {}
                    Tok::RParen => break,
                    ref other => {
                        let message = format!(
                            "expected `,` or `)` in the arguments of `{name}`, found {other}"
                        );
                        return Err(self.error(token.pos, message));
                    }
                }
            }
        }
        if args.len() != func.arity() {
            let arity = func.arity();
            let s = if arity == 1 { "" } else { "s" };
            let message = format!("`{name}` takes {arity} argument{s}, found {}", args.len());
            return Err(self.error(pos, message));
        }
        let depth = self.depth(depth + 1, pos)?;
        if func == Func::Exists {
            return match args.pop() {
                Some((
                    Expr::Path(
                        path @ Path {
                            base: Base::Var(_), ..
                        },
                    ),
                    _,
                )) => Ok((Expr::Exists(path), depth)),
                Some((_, arg_pos)) => Err(self.error(
                    arg_pos,
                    "`exists` takes a variable path, e.g. `exists(user.id)`",
                )),
                None => Err(self.error(pos, "`exists` takes 1 argument, found 0")),
            };
        }
        if func == Func::Secret {
            return match args.pop() {
                Some((Expr::Lit(Value::String(name)), _)) if !name.is_empty() => {
                    Ok((Expr::Secret(name.into()), depth))
                }
                Some((_, arg_pos)) => Err(self.error(
                    arg_pos,
                    "`secret` takes a quoted name, e.g. `secret('api_key')`",
                )),
                None => Err(self.error(pos, "`secret` takes 1 argument, found 0")),
            };
        }
        let args: Vec<Expr> = args.into_iter().map(|(arg, _)| arg).collect();
        Ok((Expr::Call(func, args.into()), depth))
    }
}

/// `-n` for a numeric literal, when representable.
fn negate_literal(n: &Number) -> Option<Number> {
    if let Some(i) = n.as_i64() {
        return i.checked_neg().map(Number::from);
    }
    if let Some(u) = n.as_u64() {
        let negated = -i128::from(u);
        return i64::try_from(negated).ok().map(Number::from);
    }
    n.as_f64().and_then(|f| Number::from_f64(-f))
}
