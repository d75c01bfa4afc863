//! Everything the user can ask for: keys map to actions, and only actions change app state.

/// A pane of the screen, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaneId {
    Stages,
    Feed,
    Lake,
    Logs,
}

impl PaneId {
    pub const ALL: [PaneId; 4] = [PaneId::Stages, PaneId::Feed, PaneId::Lake, PaneId::Logs];

    pub fn title(self) -> &'static str {
        match self {
            PaneId::Stages => "Stages",
            PaneId::Feed => "Feed",
            PaneId::Lake => "Lake",
            PaneId::Logs => "Logs",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    FocusNext,
    FocusPrev,
    ToggleZoom,
    ToggleHelp,
    OpenCommandLine,
    /// Move the selection / scroll position.
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    StartSelected,
    StopSelected,
    RestartSelected,
    StartAll,
    StopAll,
    OpenLogs,
    TogglePause,
    OpenFilter,
    OpenSearch,
    NextMatch,
    PrevMatch,
    /// A typed `:` command (`start bronze`, `stop all`, `quit`...).
    Command(String),
}
