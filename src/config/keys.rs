//! `[keys]`: the TUI's key bindings overridden by name (`start = s`, `quit = q, Ctrl-c`).
//!
//! Here: the action names and the key syntax (a character, `Space`, `Enter`, `Tab`, `Esc`,
//! `Up` / `Down` / `Left` / `Right`, `PgUp` / `PgDn`, `Home` / `End`, `F1`..`F12`, with `Ctrl-`
//! / `Alt-` in front). Whether two bindings clash is the TUI keymap's check (it knows which
//! pane a binding belongs to); it fails the start the same way, naming both.

use crossterm::event::{KeyCode, KeyModifiers};

use super::reader::Reader;
use super::ConfigError;

/// Every action a key can be given to, by its `[keys]` name.
pub const ACTIONS: &[&str] = &[
    "quit",
    "back",
    "next_pane",
    "prev_pane",
    "zoom",
    "help",
    "command",
    "sql",
    "pipeline",
    "start_all",
    "stop_all",
    "copy",
    "start",
    "stop",
    "restart",
    "page",
    "logs",
    "pause",
    "filter",
    "up",
    "down",
    "page_up",
    "page_down",
    "top",
    "bottom",
    "partitions",
    "window",
    "search",
    "next_match",
    "prev_match",
    "wrap",
    "follow",
    "skip",
    "undo",
    "note",
    "order",
    "split",
    "review",
    "relabel",
    "run_query",
    "edit_query",
    "sort",
];

/// One key of an override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

/// The overrides, in the order written: (action name, its keys).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyOverrides(pub Vec<(String, Vec<KeySpec>)>);

const EXPECTED: &str = "comma-separated keys: a character, Space, Enter, Tab, Esc, Up, Down, Left, Right, PgUp, PgDn, Home, End or F1..F12, optionally after Ctrl- or Alt-";

/// Parses one key (`x`, `Ctrl-c`, `F5`, `Alt-Enter`).
pub fn parse_key(raw: &str) -> Result<KeySpec, String> {
    let mut rest = raw.trim();
    let mut modifiers = KeyModifiers::NONE;
    loop {
        let lower = rest.to_ascii_lowercase();
        if let Some(r) = lower
            .strip_prefix("ctrl-")
            .or_else(|| lower.strip_prefix("c-"))
        {
            if !r.is_empty() {
                modifiers |= KeyModifiers::CONTROL;
                rest = &rest[rest.len() - r.len()..];
                continue;
            }
        }
        if let Some(r) = lower
            .strip_prefix("alt-")
            .or_else(|| lower.strip_prefix("m-"))
        {
            if !r.is_empty() {
                modifiers |= KeyModifiers::ALT;
                rest = &rest[rest.len() - r.len()..];
                continue;
            }
        }
        break;
    }
    let named = match rest.to_ascii_lowercase().as_str() {
        "space" => Some(KeyCode::Char(' ')),
        "enter" | "return" => Some(KeyCode::Enter),
        "tab" => Some(KeyCode::Tab),
        "esc" | "escape" => Some(KeyCode::Esc),
        "up" => Some(KeyCode::Up),
        "down" => Some(KeyCode::Down),
        "left" => Some(KeyCode::Left),
        "right" => Some(KeyCode::Right),
        "pgup" | "pageup" => Some(KeyCode::PageUp),
        "pgdn" | "pagedown" => Some(KeyCode::PageDown),
        "home" => Some(KeyCode::Home),
        "end" => Some(KeyCode::End),
        f if f.len() >= 2 && f.starts_with('f') => f[1..]
            .parse::<u8>()
            .ok()
            .filter(|n| (1..=12).contains(n))
            .map(KeyCode::F),
        _ => None,
    };
    let code = match named {
        Some(c) => c,
        None => {
            let mut chars = rest.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if !c.is_control() => KeyCode::Char(c),
                _ => return Err(format!("{raw:?} is not a key")),
            }
        }
    };
    Ok(KeySpec { code, modifiers })
}

pub(super) fn parse(r: &Reader) -> Result<KeyOverrides, ConfigError> {
    let mut out = Vec::new();
    let mut names = r.section_keys("keys").unwrap_or_default();
    names.sort();
    for name in names {
        let raw = r.raw("keys", &name).unwrap_or_default().to_string();
        if !ACTIONS.contains(&name.as_str()) {
            return Err(ConfigError::invalid(
                &format!("keys.{name}"),
                &raw,
                format!("a known action: {}", ACTIONS.join(", ")),
            ));
        }
        let keys = raw
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            // A comma itself is written `,` alone: `a, ,` is not supported; say so plainly.
            .map(parse_key)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                ConfigError::invalid(&format!("keys.{name}"), &raw, format!("{EXPECTED} ({e})"))
            })?;
        if keys.is_empty() {
            return Err(ConfigError::invalid(
                &format!("keys.{name}"),
                &raw,
                EXPECTED,
            ));
        }
        out.push((name, keys));
    }
    Ok(KeyOverrides(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse() {
        let k = |c, m| KeySpec {
            code: c,
            modifiers: m,
        };
        assert_eq!(
            parse_key("s"),
            Ok(k(KeyCode::Char('s'), KeyModifiers::NONE))
        );
        assert_eq!(
            parse_key("S"),
            Ok(k(KeyCode::Char('S'), KeyModifiers::NONE))
        );
        assert_eq!(
            parse_key("Ctrl-c"),
            Ok(k(KeyCode::Char('c'), KeyModifiers::CONTROL))
        );
        assert_eq!(
            parse_key("alt-Enter"),
            Ok(k(KeyCode::Enter, KeyModifiers::ALT))
        );
        assert_eq!(parse_key("F5"), Ok(k(KeyCode::F(5), KeyModifiers::NONE)));
        assert_eq!(
            parse_key("Space"),
            Ok(k(KeyCode::Char(' '), KeyModifiers::NONE))
        );
        assert!(parse_key("F13").is_err());
        assert!(parse_key("ab").is_err());
        assert!(parse_key("").is_err());
    }
}
