//! `[keys]` applied to the key table: the keys a user gave an action replace its built-in
//! ones everywhere the action is bound. A key given to two actions that can meet (the same
//! pane, or a pane and the global table) is refused, naming both. A label key (`[learn] keys`)
//! may not be a key the Label pane or the whole screen already uses: that rule is read from
//! the tables here, so it cannot fall behind them.

use crossterm::event::KeyEvent;

use super::{matches, pane_bindings, Binding, Key, GLOBAL};
use crate::config::keys::KeyOverrides;
use crate::tui::action::{Action, PaneId};

/// The `[keys]` name of an action a key can be given to.
pub fn action_name(a: &Action) -> Option<&'static str> {
    Some(match a {
        Action::Quit => "quit",
        Action::Back => "back",
        Action::FocusNext => "next_pane",
        Action::FocusPrev => "prev_pane",
        Action::ToggleZoom => "zoom",
        Action::ToggleHelp => "help",
        Action::OpenCommandLine => "command",
        Action::OpenSql => "sql",
        Action::OpenPipeline => "pipeline",
        Action::StartAll => "start_all",
        Action::StopAll => "stop_all",
        Action::Copy => "copy",
        Action::StartSelected => "start",
        Action::StopSelected => "stop",
        Action::RestartSelected => "restart",
        Action::OpenDetail => "page",
        Action::OpenLogs => "logs",
        Action::TogglePause => "pause",
        Action::OpenFilter => "filter",
        Action::Up => "up",
        Action::Down => "down",
        Action::PageUp => "page_up",
        Action::PageDown => "page_down",
        Action::Top => "top",
        Action::Bottom => "bottom",
        Action::ToggleDetail => "partitions",
        Action::ToggleTrendingWindow => "window",
        Action::OpenSearch => "search",
        Action::NextMatch => "next_match",
        Action::PrevMatch => "prev_match",
        Action::ToggleWrap => "wrap",
        Action::ToggleFollow => "follow",
        Action::SkipTweet => "skip",
        Action::UndoLabel => "undo",
        Action::OpenNote => "note",
        Action::CycleQueueOrder => "order",
        Action::CycleLabelTarget => "split",
        Action::ToggleReview => "review",
        Action::ReviewJump => "relabel",
        Action::RunSql => "run_query",
        Action::EditSql => "edit_query",
        Action::SortColumn => "sort",
        Action::Label(_)
        | Action::FocusPane(_)
        | Action::MoveColumn(_)
        | Action::ScrollSideways(_)
        | Action::Command(_) => return None,
    })
}

/// The key table with the user's overrides.
#[derive(Debug, Clone, Default)]
pub struct Keymap {
    /// (action name, keys) from `[keys]`.
    overrides: Vec<(&'static str, Vec<Key>)>,
}

impl Keymap {
    /// Applies `o`; `label_keys` are the Label pane's keys (`[learn] keys`), which no
    /// override may take.
    pub fn new(o: &KeyOverrides, label_keys: &[char]) -> Result<Keymap, String> {
        let mut overrides = Vec::new();
        for (name, keys) in &o.0 {
            let Some(known) = crate::config::keys::ACTIONS.iter().find(|a| **a == name) else {
                return Err(format!("[keys] {name}: not an action"));
            };
            let keys: Vec<Key> = keys
                .iter()
                .map(|k| Key {
                    code: k.code,
                    modifiers: k.modifiers,
                })
                .collect();
            overrides.push((*known, keys));
        }
        let map = Keymap { overrides };
        map.check(label_keys)?;
        Ok(map)
    }

    fn overridden(&self, b: &Binding) -> Option<&[Key]> {
        let name = action_name(&b.action)?;
        self.overrides
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| k.as_slice())
    }

    /// The keys of `b` in effect.
    pub fn keys<'a>(&'a self, b: &'a Binding) -> &'a [Key] {
        self.overridden(b).unwrap_or(b.keys)
    }

    /// The focused pane's bindings win over the global ones.
    pub fn lookup(&self, pane: PaneId, ev: &KeyEvent) -> Option<Action> {
        self.lookup_in(pane_bindings(pane), ev)
    }

    /// `table`'s bindings (a pane, the page, the help overlay), then the global ones.
    pub fn lookup_in(&self, table: &[Binding], ev: &KeyEvent) -> Option<Action> {
        table
            .iter()
            .chain(GLOBAL.iter())
            .find(|b| self.keys(b).iter().any(|key| matches(key, ev)))
            .map(|b| b.action.clone())
    }

    pub fn label(&self, b: &Binding) -> String {
        self.keys(b)
            .iter()
            .map(super::key_label)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Two actions that can meet sharing a key, where one of them was overridden.
    fn check(&self, label_keys: &[char]) -> Result<(), String> {
        let describe = |b: &Binding| match action_name(&b.action) {
            Some(n) => format!("{n} ({})", b.desc),
            None => b.desc.to_string(),
        };
        for pane in PaneId::ALL {
            let scope: Vec<&Binding> = pane_bindings(pane).iter().chain(GLOBAL.iter()).collect();
            for (i, a) in scope.iter().enumerate() {
                let a_over = self.overridden(a).is_some();
                for b in &scope[i + 1..] {
                    if a.action == b.action || !(a_over || self.overridden(b).is_some()) {
                        continue;
                    }
                    if let Some(k) = self.keys(a).iter().find(|k| {
                        self.keys(b)
                            .iter()
                            .any(|o| o.code == k.code && o.modifiers == k.modifiers)
                    }) {
                        return Err(format!(
                            "[keys]: {} is bound to both {} and {} (in the {} pane)",
                            super::key_label(k),
                            describe(a),
                            describe(b),
                            pane.title()
                        ));
                    }
                }
                if pane == PaneId::Label {
                    if let Some(c) = self.keys(a).iter().find_map(|k| match k.code {
                        crossterm::event::KeyCode::Char(c)
                            if (k.modifiers - crossterm::event::KeyModifiers::SHIFT).is_empty()
                                && label_keys.contains(&c) =>
                        {
                            Some(c)
                        }
                        _ => None,
                    }) {
                        return Err(if a_over {
                            format!(
                                "[keys]: {c} is a label key ([learn] keys) and cannot also be {}",
                                describe(a)
                            )
                        } else {
                            format!(
                                "[learn] keys: {c} is already {} where labels are given; choose \
                                 another label key, or move that action with [keys] {}",
                                describe(a),
                                action_name(&a.action).unwrap_or("…")
                            )
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys::{parse_key, ACTIONS};

    fn o(pairs: &[(&str, &str)]) -> KeyOverrides {
        KeyOverrides(
            pairs
                .iter()
                .map(|(n, k)| {
                    (
                        n.to_string(),
                        k.split(',').map(|k| parse_key(k).unwrap()).collect(),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn every_config_name_is_an_action_of_the_table_and_back() {
        let mut named: Vec<&str> = PaneId::ALL
            .iter()
            .flat_map(|p| pane_bindings(*p).iter())
            .chain(GLOBAL.iter())
            .filter_map(|b| action_name(&b.action))
            .collect();
        named.sort_unstable();
        named.dedup();
        let mut config: Vec<&str> = ACTIONS.to_vec();
        config.sort_unstable();
        assert_eq!(named, config);
    }

    #[test]
    fn overrides_replace_keys_and_clashes_name_both() {
        let m = Keymap::new(&o(&[("start", "b")]), &['1', '0']).unwrap();
        let b = KeyEvent::new(
            crossterm::event::KeyCode::Char('b'),
            crossterm::event::KeyModifiers::NONE,
        );
        let s = KeyEvent::new(
            crossterm::event::KeyCode::Char('s'),
            crossterm::event::KeyModifiers::NONE,
        );
        assert_eq!(m.lookup(PaneId::Stages, &b), Some(Action::StartSelected));
        assert_eq!(m.lookup(PaneId::Stages, &s), None, "s is free now");
        let e = Keymap::new(&o(&[("start", "x")]), &[]).unwrap_err();
        assert!(
            e.contains("x is bound to both start") && e.contains("stop"),
            "{e}"
        );
        let e = Keymap::new(&o(&[("quit", "1")]), &['1', '0']).unwrap_err();
        assert!(e.contains("1 is a label key"), "{e}");
        // A label key on a key the Label pane or the screen uses: refused, naming the action,
        // unless [keys] moves that action elsewhere.
        for (c, action) in [('u', "undo"), ('j', "down"), ('y', "copy"), ('Q', "sql")] {
            let e = Keymap::new(&o(&[]), &[c, '0']).unwrap_err();
            assert!(
                e.starts_with(&format!("[learn] keys: {c} is already {action}")),
                "{e}"
            );
        }
        assert!(Keymap::new(&o(&[("copy", "c")]), &['y', 'x']).is_ok());
        // Keys of other panes only (s starts a stage, w is the Trending window) are free.
        assert!(Keymap::new(&o(&[]), &['s', 'w']).is_ok());
        // The same key for two actions that never meet (two panes) is fine.
        assert!(Keymap::new(&o(&[("pause", "w")]), &[]).is_ok());
    }
}
