//! Python's `re` pattern syntax, translated to fancy-regex's so that a topic
//! pattern means here what it means in Python yelp_kafka
//! (docs/discovery.md, "Patterns: Python's `re.match`").
//!
//! The parser follows Python's `re` parser (`re/_parser.py`, Python 3.11)
//! rule by rule and refuses what it refuses, with its message. Every
//! construct is written back by the translator: literals as escapes, groups
//! with their own parentheses, so the output is balanced whatever the input
//! holds and cannot leave the start anchor it is wrapped in.

use std::collections::HashMap;

/// Python's `MAXREPEAT`: a repeat count from here on is refused.
const MAX_REPEAT: u64 = 4_294_967_295;
/// Python's `MAXGROUPS` on 64-bit builds.
const MAX_GROUPS: usize = 1_073_741_823;
/// Deeper nesting is refused before the recursion of the parser could
/// exhaust the stack; fancy-regex refuses nesting deeper than 64 itself.
const MAX_NESTING: usize = 100;
/// Python's `\s` on str patterns: the characters `str.isspace` accepts.
const UNICODE_SPACE: &str =
    r"\t-\r\x{1C}-\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}";
/// Python's `\s` under the ASCII flag: `[ \t\n\r\f\v]`.
const ASCII_SPACE: &str = r"\t-\r\x{20}";
/// A class no character is in: what a literal surrogate (`\ud800`, valid in
/// Python) becomes, since a topic name, being UTF-8, holds none.
const NOTHING: &str = r"[^\x{0}-\x{10FFFF}]";

const IGNORECASE: u8 = 1;
const MULTILINE: u8 = 2;
const DOTALL: u8 = 4;
const VERBOSE: u8 = 8;
const ASCII: u8 = 16;
const UNICODE: u8 = 32;

/// The inline flags Python's `re` knows; `L` and `t` are refused on str
/// patterns (Python 3.11 refuses `L`, and `t` is its deprecated TEMPLATE).
fn flag_bit(c: char) -> Option<u8> {
    Some(match c {
        'i' => IGNORECASE,
        'm' => MULTILINE,
        's' => DOTALL,
        'x' => VERBOSE,
        'a' => ASCII,
        'u' => UNICODE,
        'L' | 't' => 0,
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    /// A backslash and the character after it, one token as in Python's tokenizer.
    Escape(char),
}

#[derive(PartialEq, Eq)]
enum Kind {
    /// `^`, `$`, `\A`, `\Z`, `\b`, `\B`: Python refuses to repeat them.
    Assertion,
    Repeat,
    Other,
}

struct Item {
    text: String,
    kind: Kind,
}

impl Item {
    fn other(text: impl Into<String>) -> Item {
        Item {
            text: text.into(),
            kind: Kind::Other,
        }
    }

    fn assertion(text: &str) -> Item {
        Item {
            text: text.to_string(),
            kind: Kind::Assertion,
        }
    }
}

/// What an escape stands for inside or outside a class.
enum Code {
    Char(u32),
    /// `\d`, `\D`, `\s`, `\S`, `\w`, `\W`.
    Category(char),
}

type Parsed<T> = std::result::Result<T, String>;

/// Translates a Python `re` pattern to a fancy-regex one that matches
/// exactly where `re.match` does (from the first character, the end open),
/// or Python's error message when Python refuses the pattern.
pub(crate) fn translate(pattern: &str) -> Parsed<String> {
    let mut parser = Parser::new(pattern)?;
    let body = parser.alternatives(0, 0)?;
    if parser.peek().is_some() {
        return Err("unbalanced parenthesis".into());
    }
    if let Some(group) = parser.conditions.iter().find(|g| **g > parser.groups) {
        return Err(format!("invalid group reference {group}"));
    }
    if parser.global & (ASCII | UNICODE) == ASCII | UNICODE {
        return Err("ASCII and UNICODE flags are incompatible".into());
    }
    let prefix = if parser.global & IGNORECASE != 0 { "(?i)" } else { "" };
    Ok(format!(r"{prefix}\A(?:{body})"))
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// Groups opened so far, numbered from 1 as Python numbers them.
    groups: usize,
    /// Groups opened and not closed yet: a reference to one is refused.
    open: Vec<usize>,
    names: HashMap<String, usize>,
    /// Groups conditionals name by number, checked once all are known.
    conditions: Vec<usize>,
    /// The flags of global flag groups, `(?i)` at the start.
    global: u8,
}

impl Parser {
    fn new(pattern: &str) -> Parsed<Parser> {
        let mut toks = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            toks.push(match c {
                '\\' => Tok::Escape(chars.next().ok_or("bad escape (end of pattern)")?),
                c => Tok::Char(c),
            });
        }
        Ok(Parser {
            toks,
            pos: 0,
            groups: 0,
            open: Vec::new(),
            names: HashMap::new(),
            conditions: Vec::new(),
            global: 0,
        })
    }

    fn peek(&self) -> Option<Tok> {
        self.toks.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<Tok> {
        let tok = self.peek();
        self.pos += usize::from(tok.is_some());
        tok
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(Tok::Char(c));
        self.pos += usize::from(found);
        found
    }

    /// Up to `max` plain characters accepted by `accept`.
    fn take_while(&mut self, max: usize, accept: impl Fn(char) -> bool) -> String {
        let mut taken = String::new();
        while taken.chars().count() < max {
            match self.peek() {
                Some(Tok::Char(c)) if accept(c) => {
                    taken.push(c);
                    self.pos += 1;
                }
                _ => break,
            }
        }
        taken
    }

    /// Python's `getuntil`: the text up to `end`, which is consumed.
    fn until(&mut self, end: char, what: &str) -> Parsed<String> {
        let mut text = String::new();
        loop {
            match self.next() {
                None if text.is_empty() => return Err(format!("missing {what}")),
                None => return Err(format!("missing {end}, unterminated name")),
                Some(Tok::Char(c)) if c == end => {
                    return if text.is_empty() {
                        Err(format!("missing {what}"))
                    } else {
                        Ok(text)
                    }
                }
                Some(Tok::Char(c)) => text.push(c),
                Some(Tok::Escape(c)) => {
                    text.push('\\');
                    text.push(c);
                }
            }
        }
    }

    fn close(&mut self) -> Parsed<()> {
        if self.eat(')') {
            Ok(())
        } else {
            Err("missing ), unterminated subpattern".into())
        }
    }

    /// `a|b|c` up to an unmatched `)` or the end. At the top level
    /// (`depth` 0) the global flags apply to every alternative.
    fn alternatives(&mut self, flags: u8, depth: usize) -> Parsed<String> {
        if depth > MAX_NESTING {
            return Err(format!("more than {MAX_NESTING} nested groups"));
        }
        let mut branches = Vec::new();
        loop {
            let flags = if depth == 0 { self.global } else { flags };
            branches.push(self.sequence(flags, depth, depth == 0 && branches.is_empty())?);
            if !self.eat('|') {
                return Ok(branches.join("|"));
            }
        }
    }

    /// One alternative; `first` when global flags may still come.
    fn sequence(&mut self, mut flags: u8, depth: usize, first: bool) -> Parsed<String> {
        let mut items: Vec<Item> = Vec::new();
        while let Some(tok) = self.peek() {
            if tok == Tok::Char('|') || tok == Tok::Char(')') {
                break;
            }
            self.pos += 1;
            if flags & VERBOSE != 0 {
                match tok {
                    Tok::Char(' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c') => continue,
                    Tok::Char('#') => {
                        while !matches!(self.next(), None | Some(Tok::Char('\n'))) {}
                        continue;
                    }
                    _ => {}
                }
            }
            match tok {
                Tok::Escape(c) => items.push(self.escape(c, flags)?),
                Tok::Char('[') => items.push(Item::other(self.class(flags)?)),
                Tok::Char(c @ ('*' | '+' | '?' | '{')) => self.repeat(c, &mut items)?,
                Tok::Char('.') => items.push(Item::other(if flags & DOTALL != 0 { "(?s:.)" } else { "." })),
                Tok::Char('(') => {
                    let may_set_global = first && items.is_empty();
                    if let Some(item) = self.group(&mut flags, depth, may_set_global)? {
                        items.push(item);
                    }
                }
                // Python's `^` is the start of the string, `$` its end or
                // before a newline that ends it; both per line in MULTILINE.
                Tok::Char('^') => items.push(Item::assertion(if flags & MULTILINE != 0 { "(?m:^)" } else { r"\A" })),
                Tok::Char('$') => items.push(Item::assertion(if flags & MULTILINE != 0 {
                    "(?m:$)"
                } else {
                    r"(?=\n?\z)"
                })),
                Tok::Char(c) => items.push(Item::other(literal(u32::from(c)))),
            }
        }
        Ok(items.into_iter().map(|item| item.text).collect())
    }

    fn repeat(&mut self, c: char, items: &mut Vec<Item>) -> Parsed<()> {
        let here = self.pos;
        let (min, max) = match c {
            '?' => (0, Some(1)),
            '*' => (0, None),
            '+' => (1, None),
            _ => {
                // `{` is a literal unless a valid quantifier follows:
                // `my{` and `a{2` match a brace, `x{,2}` is `x{0,2}`.
                if self.peek() == Some(Tok::Char('}')) {
                    items.push(Item::other(literal(u32::from('{'))));
                    return Ok(());
                }
                let low = self.take_while(usize::MAX, |c| c.is_ascii_digit());
                let high = if self.eat(',') {
                    self.take_while(usize::MAX, |c| c.is_ascii_digit())
                } else {
                    low.clone()
                };
                if !self.eat('}') {
                    items.push(Item::other(literal(u32::from('{'))));
                    self.pos = here;
                    return Ok(());
                }
                let min = if low.is_empty() { 0 } else { repeat_count(&low)? };
                let max = if high.is_empty() {
                    None
                } else {
                    Some(repeat_count(&high)?)
                };
                if max.is_some_and(|max| max < min) {
                    return Err("min repeat greater than max repeat".into());
                }
                (min, max)
            }
        };
        let item = match items.last_mut() {
            Some(item) if item.kind == Kind::Other => item,
            Some(item) if item.kind == Kind::Repeat => return Err("multiple repeat".into()),
            _ => return Err("nothing to repeat".into()),
        };
        let quantifier = match max {
            Some(max) => format!("{{{min},{max}}}"),
            None => format!("{{{min},}}"),
        };
        item.text = if self.eat('?') {
            format!("{}{quantifier}?", item.text)
        } else if self.eat('+') {
            format!("(?>{}{quantifier})", item.text)
        } else {
            format!("{}{quantifier}", item.text)
        };
        item.kind = Kind::Repeat;
        Ok(())
    }

    /// An escape outside a class.
    fn escape(&mut self, c: char, flags: u8) -> Parsed<Item> {
        let ascii = flags & ASCII != 0;
        Ok(match c {
            'A' => Item::assertion(r"\A"),
            // Python's `\Z` is the very end, the `\z` of fancy-regex.
            'Z' => Item::assertion(r"\z"),
            'b' => Item::assertion(if ascii { r"(?-u:\b)" } else { r"\b" }),
            'B' => Item::assertion(if ascii { r"(?-u:\B)" } else { r"\B" }),
            '1'..='9' => {
                // Python's rule: three octal digits are a character, else a
                // group reference of one or two digits.
                let mut digits = c.to_string();
                if let Some(Tok::Char(d @ '0'..='9')) = self.peek() {
                    self.pos += 1;
                    digits.push(d);
                    if let (true, Some(Tok::Char(e @ '0'..='7'))) = (c <= '7' && d <= '7', self.peek()) {
                        self.pos += 1;
                        digits.push(e);
                        return Ok(Item::other(literal(octal(&digits)?)));
                    }
                }
                let group: usize = digits
                    .parse()
                    .map_err(|_| format!("invalid group reference {digits}"))?;
                if group > self.groups {
                    return Err(format!("invalid group reference {group}"));
                }
                if self.open.contains(&group) {
                    return Err("cannot refer to an open group".into());
                }
                Item::other(format!(r"(?:\{group})"))
            }
            _ => match self.escape_code(c)? {
                Code::Char(c) => Item::other(literal(c)),
                Code::Category(c) => Item::other(format!("[{}]", category(c, ascii))),
            },
        })
    }

    /// Python's `_class_escape`, and `_escape` past its assertions and
    /// group references.
    fn escape_code(&mut self, c: char) -> Parsed<Code> {
        let hex = |parser: &mut Parser, digits: usize| -> Parsed<u32> {
            let text = parser.take_while(digits, |c| c.is_ascii_hexdigit());
            if text.len() == digits {
                u32::from_str_radix(&text, 16).map_err(|e| e.to_string())
            } else {
                Err(format!("incomplete escape \\{c}{text}"))
            }
        };
        Ok(match c {
            'a' => Code::Char(7),
            'b' => Code::Char(8),
            'f' => Code::Char(12),
            'n' => Code::Char(10),
            'r' => Code::Char(13),
            't' => Code::Char(9),
            'v' => Code::Char(11),
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => Code::Category(c),
            'x' => Code::Char(hex(self, 2)?),
            'u' => Code::Char(hex(self, 4)?),
            'U' => match hex(self, 8)? {
                value if value <= 0x10FFFF => Code::Char(value),
                value => return Err(format!("bad escape \\U{value:08x}")),
            },
            'N' => return Err("named Unicode escapes (\\N{...}) are not supported here".into()),
            '0'..='7' => {
                let digits = format!("{c}{}", self.take_while(2, |c| ('0'..='7').contains(&c)));
                Code::Char(octal(&digits)?)
            }
            c if c.is_ascii_alphanumeric() => return Err(format!("bad escape \\{c}")),
            c => Code::Char(u32::from(c)),
        })
    }

    /// A set `[...]`, after its `[`. As in Python, `]` first is a literal and
    /// `[` inside is a literal: `[[:alpha:]]` is a set of `[:alph` and a `]`.
    fn class(&mut self, flags: u8) -> Parsed<String> {
        let ascii = flags & ASCII != 0;
        let negate = self.eat('^');
        let mut parts: Vec<String> = Vec::new();
        let mut empty = true;
        loop {
            let tok = self.next().ok_or("unterminated character set")?;
            if tok == Tok::Char(']') && !empty {
                break;
            }
            empty = false;
            let first = self.class_code(tok)?;
            if self.eat('-') {
                let that = self.next().ok_or("unterminated character set")?;
                if that == Tok::Char(']') {
                    parts.push(class_part(&first, ascii));
                    parts.push(literal(u32::from('-')));
                    break;
                }
                match (first, self.class_code(that)?) {
                    (Code::Char(low), Code::Char(high)) if low <= high => parts.push(range(low, high)),
                    _ => return Err("bad character range".into()),
                }
            } else {
                parts.push(class_part(&first, ascii));
            }
        }
        let parts: String = parts.concat();
        Ok(match (parts.is_empty(), negate) {
            (true, false) => NOTHING.to_string(),
            (true, true) => r"[\x{0}-\x{10FFFF}]".to_string(),
            (false, false) => format!("[{parts}]"),
            (false, true) => format!("[^{parts}]"),
        })
    }

    fn class_code(&mut self, tok: Tok) -> Parsed<Code> {
        match tok {
            Tok::Char(c) => Ok(Code::Char(u32::from(c))),
            Tok::Escape(c) => self.escape_code(c),
        }
    }

    /// A group, after its `(`; `None` for a comment or global flags.
    fn group(&mut self, flags: &mut u8, depth: usize, may_set_global: bool) -> Parsed<Option<Item>> {
        if !self.eat('?') {
            return self.capture(None, *flags, depth).map(Some);
        }
        let c = match self.next().ok_or("unexpected end of pattern")? {
            Tok::Char(c) => c,
            Tok::Escape(c) => return Err(format!("unknown extension ?\\{c}")),
        };
        let body_flags = *flags;
        Ok(Some(match c {
            'P' if self.eat('<') => {
                let name = self.until('>', "group name")?;
                return self.capture(Some(name), body_flags, depth).map(Some);
            }
            'P' if self.eat('=') => {
                let name = self.until(')', "group name")?;
                let group = self.named_group(&name)?;
                if self.open.contains(&group) {
                    return Err("cannot refer to an open group".into());
                }
                Item::other(format!(r"(?:\{group})"))
            }
            'P' => match self.next() {
                None => return Err("unexpected end of pattern".into()),
                Some(Tok::Char(c) | Tok::Escape(c)) => return Err(format!("unknown extension ?P{c}")),
            },
            ':' => Item::other(format!("(?:{})", self.body(body_flags, depth)?)),
            '>' => Item::other(format!("(?>{})", self.body(body_flags, depth)?)),
            '#' => loop {
                match self.next() {
                    None => return Err("missing ), unterminated comment".into()),
                    Some(Tok::Char(')')) => return Ok(None),
                    Some(_) => {}
                }
            },
            '=' | '!' => Item::other(format!("(?{c}{})", self.body(body_flags, depth)?)),
            '<' => match self.next() {
                Some(Tok::Char(d @ ('=' | '!'))) => Item::other(format!("(?<{d}{})", self.body(body_flags, depth)?)),
                None => return Err("unexpected end of pattern".into()),
                Some(Tok::Char(d) | Tok::Escape(d)) => return Err(format!("unknown extension ?<{d}")),
            },
            '(' => self.conditional(body_flags, depth)?,
            c if c == '-' || flag_bit(c).is_some() => match self.flags(c)? {
                None if may_set_global => {
                    *flags |= self.global;
                    return Ok(None);
                }
                None => return Err("global flags not at the start of the expression".into()),
                Some((add, remove)) => {
                    let mut inner = (body_flags | add) & !remove;
                    if add & (ASCII | UNICODE) != 0 {
                        inner = (inner & !(ASCII | UNICODE)) | (add & (ASCII | UNICODE));
                    }
                    let case = match (add & IGNORECASE != 0, remove & IGNORECASE != 0) {
                        (true, _) => "i",
                        (_, true) => "-i",
                        _ => "",
                    };
                    Item::other(format!("(?{case}:{})", self.body(inner, depth)?))
                }
            },
            c => return Err(format!("unknown extension ?{c}")),
        }))
    }

    /// A group's alternatives and its closing `)`.
    fn body(&mut self, flags: u8, depth: usize) -> Parsed<String> {
        let body = self.alternatives(flags, depth + 1)?;
        self.close()?;
        Ok(body)
    }

    fn capture(&mut self, name: Option<String>, flags: u8, depth: usize) -> Parsed<Item> {
        self.groups += 1;
        let group = self.groups;
        if let Some(name) = name {
            if !is_identifier(&name) {
                return Err(format!("bad character in group name {name:?}"));
            }
            if let Some(was) = self.names.insert(name.clone(), group) {
                return Err(format!(
                    "redefinition of group name {name:?} as group {group}; was group {was}"
                ));
            }
        }
        self.open.push(group);
        let body = self.body(flags, depth)?;
        self.open.pop();
        Ok(Item::other(format!("({body})")))
    }

    fn named_group(&self, name: &str) -> Parsed<usize> {
        if !is_identifier(name) {
            return Err(format!("bad character in group name {name:?}"));
        }
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| format!("unknown group name {name:?}"))
    }

    /// `(?(group)yes|no)`, after its `(?(`.
    fn conditional(&mut self, flags: u8, depth: usize) -> Parsed<Item> {
        let name = self.until(')', "group name")?;
        let group = if is_identifier(&name) {
            self.named_group(&name)?
        } else {
            let group: usize = match name.bytes().all(|b| b.is_ascii_digit()) {
                true => name.parse().unwrap_or(usize::MAX),
                false => return Err(format!("bad character in group name {name:?}")),
            };
            if group == 0 {
                return Err("bad group number".into());
            }
            if group >= MAX_GROUPS {
                return Err(format!("invalid group reference {group}"));
            }
            self.conditions.push(group);
            group
        };
        if depth + 1 > MAX_NESTING {
            return Err(format!("more than {MAX_NESTING} nested groups"));
        }
        let yes = self.sequence(flags, depth + 1, false)?;
        let text = if self.eat('|') {
            let no = self.sequence(flags, depth + 1, false)?;
            if self.peek() == Some(Tok::Char('|')) {
                return Err("conditional backref with more than two branches".into());
            }
            format!("(?({group}){yes}|{no})")
        } else {
            format!("(?({group}){yes})")
        };
        self.close()?;
        Ok(Item::other(text))
    }

    /// Python's `_parse_flags` after `(?` and its first character: `None`
    /// for global flags (`(?i)`, recorded), else the flags a scoped group
    /// `(?i-s:...)` turns on and off.
    fn flags(&mut self, mut c: char) -> Parsed<Option<(u8, u8)>> {
        let mut add = 0;
        let mut remove = 0;
        if c != '-' {
            loop {
                match c {
                    'L' => return Err("bad inline flags: cannot use 'L' flag with a str pattern".into()),
                    't' => return Err("the TEMPLATE flag 't' is not supported".into()),
                    _ => {}
                }
                let flag = flag_bit(c).unwrap_or(0);
                add |= flag;
                if flag & (ASCII | UNICODE) != 0 && add & (ASCII | UNICODE) != flag {
                    return Err("bad inline flags: flags 'a', 'u' and 'L' are incompatible".into());
                }
                c = match self.next() {
                    Some(Tok::Char(c)) if matches!(c, ')' | '-' | ':') || flag_bit(c).is_some() => c,
                    Some(Tok::Char(c)) if c.is_alphabetic() => return Err("unknown flag".into()),
                    _ => return Err("missing -, : or )".into()),
                };
                if matches!(c, ')' | '-' | ':') {
                    break;
                }
            }
        }
        if c == ')' {
            self.global |= add;
            return Ok(None);
        }
        if c == '-' {
            loop {
                c = match self.next() {
                    None if remove == 0 => return Err("missing flag".into()),
                    None => return Err("missing :".into()),
                    Some(Tok::Char(':')) if remove != 0 => break,
                    Some(Tok::Char(c)) if flag_bit(c).is_some() => c,
                    Some(Tok::Char(c)) if c.is_alphabetic() => return Err("unknown flag".into()),
                    Some(_) if remove == 0 => return Err("missing flag".into()),
                    Some(_) => return Err("missing :".into()),
                };
                match c {
                    'a' | 'u' | 'L' => return Err("bad inline flags: cannot turn off flags 'a', 'u' and 'L'".into()),
                    't' => return Err("the TEMPLATE flag 't' is not supported".into()),
                    _ => remove |= flag_bit(c).unwrap_or(0),
                }
            }
        }
        if add & remove != 0 {
            return Err("bad inline flags: flag turned on and off".into());
        }
        Ok(Some((add, remove)))
    }
}

fn repeat_count(digits: &str) -> Parsed<u64> {
    match digits.parse::<u64>() {
        Ok(count) if count < MAX_REPEAT => Ok(count),
        _ => Err("the repetition number is too large".into()),
    }
}

fn octal(digits: &str) -> Parsed<u32> {
    match u32::from_str_radix(digits, 8) {
        Ok(value) if value <= 0o377 => Ok(value),
        _ => Err(format!("octal escape value \\{digits} outside of range 0-0o377")),
    }
}

/// Python's `str.isidentifier`, close enough for group names.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic()) && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// One character, escaped so that fancy-regex reads it as itself; a
/// surrogate, which no topic name holds, matches nothing.
fn literal(c: u32) -> String {
    match char::from_u32(c) {
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => c.to_string(),
        Some(_) => format!(r"\x{{{c:X}}}"),
        None => NOTHING.to_string(),
    }
}

/// A range of a set; the surrogates in it, which no topic name holds, are
/// left out.
fn range(low: u32, high: u32) -> String {
    let part = |low: u32, high: u32| format!(r"\x{{{low:X}}}-\x{{{high:X}}}");
    match (low < 0xD800, high > 0xDFFF) {
        (true, true) => format!("{}{}", part(low, 0xD7FF), part(0xE000, high)),
        (true, false) => part(low, high.min(0xD7FF)),
        (false, true) => part(low.max(0xE000), high),
        (false, false) => String::new(),
    }
}

fn class_part(code: &Code, ascii: bool) -> String {
    match code {
        Code::Char(c) if char::from_u32(*c).is_none() => String::new(),
        Code::Char(c) => literal(*c),
        Code::Category(c) => category(*c, ascii),
    }
}

/// A category escape as the inside of a set, as Python defines it for str
/// patterns (Unicode unless the ASCII flag is on).
fn category(c: char, ascii: bool) -> String {
    let (positive, negated) = match (c.to_ascii_lowercase(), ascii) {
        ('d', false) => (r"\d".to_string(), r"\D".to_string()),
        ('w', false) => (r"\w".to_string(), r"\W".to_string()),
        ('s', false) => (UNICODE_SPACE.to_string(), format!("[^{UNICODE_SPACE}]")),
        ('d', true) => ("0-9".to_string(), "[^0-9]".to_string()),
        ('w', true) => ("a-zA-Z0-9_".to_string(), "[^a-zA-Z0-9_]".to_string()),
        _ => (ASCII_SPACE.to_string(), format!("[^{ASCII_SPACE}]")),
    };
    if c.is_ascii_uppercase() {
        negated
    } else {
        positive
    }
}
