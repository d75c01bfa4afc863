//! Key bindings as data: the same table handles keys, draws the footer hints and the help
//! overlay, so they cannot disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, PaneId};

mod key;
mod overrides;
use key::{alt, bind, code, ctrl, k, matches};
pub use key::{binding_label, key_label, Binding, Key};
pub use overrides::{action_name, Keymap};

const UP: Binding = bind(&[k('k'), code(KeyCode::Up)], Action::Up, "up", false);
const DOWN: Binding = bind(&[k('j'), code(KeyCode::Down)], Action::Down, "down", false);
const PAGE_UP: Binding = bind(&[code(KeyCode::PageUp)], Action::PageUp, "page up", false);
const PAGE_DOWN: Binding = bind(
    &[code(KeyCode::PageDown)],
    Action::PageDown,
    "page down",
    false,
);

pub static GLOBAL: &[Binding] = &[
    bind(
        &[k('q'), ctrl('c')],
        Action::Quit,
        "quit (stops stages, flushes)",
        true,
    ),
    bind(
        &[code(KeyCode::Esc)],
        Action::Back,
        "back: close, cancel, clear filter",
        false,
    ),
    bind(&[code(KeyCode::Tab)], Action::FocusNext, "next pane", true),
    bind(
        &[code(KeyCode::BackTab)],
        Action::FocusPrev,
        "previous pane",
        false,
    ),
    bind(&[k('z')], Action::ToggleZoom, "zoom pane", true),
    bind(&[k('?')], Action::ToggleHelp, "help", true),
    bind(&[k('y')], Action::Copy, "copy the selected item", false),
    bind(&[k(':')], Action::OpenCommandLine, "command", true),
    bind(&[k('Q')], Action::OpenSql, "SQL over the lake", true),
    bind(
        &[k('P')],
        Action::OpenPipeline,
        "pipeline: backlogs, rates, latency",
        true,
    ),
    bind(&[k('S')], Action::StartAll, "start all stages", false),
    bind(
        &[k('X')],
        Action::StopAll,
        "stop all stages (asks y)",
        false,
    ),
    bind(
        &[alt('1')],
        Action::FocusPane(PaneId::Stages),
        "Stages pane",
        false,
    ),
    bind(
        &[alt('2')],
        Action::FocusPane(PaneId::Feed),
        "Feed pane",
        false,
    ),
    bind(
        &[alt('3')],
        Action::FocusPane(PaneId::Lake),
        "Lake pane",
        false,
    ),
    bind(
        &[alt('4')],
        Action::FocusPane(PaneId::Lag),
        "Lag pane",
        false,
    ),
    bind(
        &[alt('5')],
        Action::FocusPane(PaneId::Logs),
        "Logs pane",
        false,
    ),
    bind(
        &[alt('6')],
        Action::FocusPane(PaneId::Ner),
        "NER pane",
        false,
    ),
    bind(
        &[alt('7')],
        Action::FocusPane(PaneId::Trending),
        "Trending pane",
        false,
    ),
    bind(
        &[alt('8')],
        Action::FocusPane(PaneId::Label),
        "Label pane",
        false,
    ),
    bind(&[alt('9')], Action::OpenSql, "SQL screen", false),
    bind(&[alt('0')], Action::OpenPipeline, "Pipeline screen", false),
];

pub static STAGES: &[Binding] = &[
    bind(&[k('s')], Action::StartSelected, "start", true),
    bind(&[k('x')], Action::StopSelected, "stop", true),
    bind(&[k('r')], Action::RestartSelected, "restart", true),
    bind(
        &[code(KeyCode::Enter)],
        Action::OpenDetail,
        "the stage's page",
        true,
    ),
    bind(&[k('l')], Action::OpenLogs, "logs", true),
    bind(&[k('S')], Action::StartAll, "start all", true),
    bind(&[k('X')], Action::StopAll, "stop all (asks y)", true),
    UP,
    DOWN,
];

pub static FEED: &[Binding] = &[
    bind(&[k('p')], Action::TogglePause, "pause/resume", true),
    bind(&[k('/')], Action::OpenFilter, "filter (text or #tag)", true),
    UP,
    DOWN,
    PAGE_UP,
    PAGE_DOWN,
    bind(&[k('g'), code(KeyCode::Home)], Action::Top, "newest", false),
];

pub static LAKE: &[Binding] = &[];

pub static LAG: &[Binding] = &[
    bind(
        &[code(KeyCode::Enter)],
        Action::ToggleDetail,
        "partitions of the group",
        true,
    ),
    UP,
    DOWN,
];

/// The NER pane only shows (it has no keys of its own).
pub static NER: &[Binding] = &[];

pub static TRENDING: &[Binding] = &[bind(
    &[k('w')],
    Action::ToggleTrendingWindow,
    "all time / window",
    true,
)];

/// Label pane. The label keys themselves come from `[learn] keys` (see [`label_key`]); the
/// footer and the help overlay list them from config too.
pub static LABEL: &[Binding] = &[
    bind(
        &[k(' ')],
        Action::SkipTweet,
        "skip (next tweet, no label)",
        true,
    ),
    bind(&[k('u')], Action::UndoLabel, "undo the last label", true),
    bind(
        &[k('n')],
        Action::OpenNote,
        "note for this tweet's label",
        true,
    ),
    bind(
        &[k('o')],
        Action::CycleQueueOrder,
        "queue order (uncertainty, random, ...)",
        true,
    ),
    bind(
        &[k('t')],
        Action::CycleLabelTarget,
        "which split to label (auto, dev, ...)",
        false,
    ),
    bind(
        &[k('v')],
        Action::ToggleReview,
        "review the last decisions",
        true,
    ),
    bind(
        &[code(KeyCode::Enter)],
        Action::ReviewJump,
        "review: label the selected tweet again",
        false,
    ),
    UP,
    DOWN,
];

/// The action of a label key (`[learn] keys`) in the Label pane, if `ev` is one.
pub fn label_key(labels: &[crate::config::LabelDef], ev: &KeyEvent) -> Option<Action> {
    if !(ev.modifiers - KeyModifiers::SHIFT).is_empty() {
        return None;
    }
    match ev.code {
        KeyCode::Char(c) => labels
            .iter()
            .find(|l| l.key == c)
            .map(|l| Action::Label(l.value)),
        _ => None,
    }
}

pub static LOGS: &[Binding] = &[
    bind(&[k('/')], Action::OpenSearch, "search", true),
    bind(&[k('w')], Action::ToggleWrap, "wrap long lines", true),
    bind(
        &[k('f')],
        Action::ToggleFollow,
        "follow new lines / hold",
        true,
    ),
    bind(
        &[code(KeyCode::Left)],
        Action::ScrollSideways(-8),
        "scroll left",
        false,
    ),
    bind(
        &[code(KeyCode::Right)],
        Action::ScrollSideways(8),
        "scroll right",
        false,
    ),
    bind(&[k('n')], Action::NextMatch, "next match", true),
    bind(&[k('N')], Action::PrevMatch, "previous match", false),
    UP,
    DOWN,
    PAGE_UP,
    PAGE_DOWN,
    bind(&[k('g'), code(KeyCode::Home)], Action::Top, "top", false),
    bind(
        &[k('G'), code(KeyCode::End)],
        Action::Bottom,
        "bottom (follow)",
        true,
    ),
];

/// The SQL pane's result grid (the editor takes keys as text: F5 / Ctrl-Enter run, Tab
/// completes, Ctrl-↑/↓ walk the history, Esc moves here or cancels a running query).
pub static SQL: &[Binding] = &[
    bind(
        &[code(KeyCode::F(5))],
        Action::RunSql,
        "run the query",
        true,
    ),
    bind(
        &[k('i'), k('e'), code(KeyCode::Enter)],
        Action::EditSql,
        "edit the query",
        true,
    ),
    bind(
        &[k('s')],
        Action::SortColumn,
        "sort by column (again: reverse)",
        true,
    ),
    bind(
        &[k('h'), code(KeyCode::Left)],
        Action::MoveColumn(-1),
        "column left",
        false,
    ),
    bind(
        &[k('l'), code(KeyCode::Right)],
        Action::MoveColumn(1),
        "column right",
        false,
    ),
    UP,
    DOWN,
    PAGE_UP,
    PAGE_DOWN,
    bind(
        &[k('g'), code(KeyCode::Home)],
        Action::Top,
        "first row",
        false,
    ),
    bind(
        &[k('G'), code(KeyCode::End)],
        Action::Bottom,
        "last row",
        false,
    ),
];

/// A stage's page (Enter on a stage): scrolls; Enter, `back` or `quit` close it.
pub static PAGE: &[Binding] = &[
    UP,
    DOWN,
    PAGE_UP,
    PAGE_DOWN,
    bind(
        &[code(KeyCode::Enter)],
        Action::OpenDetail,
        "close the page",
        false,
    ),
];

/// The help overlay: scrolls; `help`, `back` or `quit` close it.
pub static HELP: &[Binding] = &[UP, DOWN, PAGE_UP, PAGE_DOWN];

pub fn pane_bindings(pane: PaneId) -> &'static [Binding] {
    match pane {
        PaneId::Stages => STAGES,
        PaneId::Feed => FEED,
        PaneId::Lake => LAKE,
        PaneId::Logs => LOGS,
        PaneId::Lag => LAG,
        PaneId::Ner => NER,
        PaneId::Trending => TRENDING,
        PaneId::Label => LABEL,
        PaneId::Sql => SQL,
        PaneId::Pipeline => &[],
    }
}
