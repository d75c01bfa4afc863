//! Everything the user can ask for: keys map to actions, and only actions change app state.

/// A pane of the screen, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaneId {
    Stages,
    Feed,
    Lake,
    Logs,
    Lag,
    Ner,
    Trending,
    Label,
    /// Full screen (`Q`): the SQL editor and result grid.
    Sql,
    /// Full screen (`P`): the stages as a graph with backlogs, rates and latency.
    Pipeline,
}

impl PaneId {
    pub const ALL: [PaneId; 10] = [
        PaneId::Stages,
        PaneId::Feed,
        PaneId::Lake,
        PaneId::Lag,
        PaneId::Logs,
        PaneId::Ner,
        PaneId::Trending,
        PaneId::Label,
        PaneId::Sql,
        PaneId::Pipeline,
    ];

    /// Its direct key: `Alt-<n>`, n = 1-based place in [`PaneId::ALL`] (the tenth: `Alt-0`).
    pub fn number(self) -> usize {
        (PaneId::ALL.iter().position(|p| *p == self).unwrap_or(0) + 1) % 10
    }

    /// A screen of its own, not in the Tab cycle.
    pub fn full_screen(self) -> bool {
        matches!(self, PaneId::Sql | PaneId::Pipeline)
    }

    pub fn title(self) -> &'static str {
        match self {
            PaneId::Stages => "Stages",
            PaneId::Feed => "Feed",
            PaneId::Lake => "Lake",
            PaneId::Logs => "Logs",
            PaneId::Lag => "Lag",
            PaneId::Ner => "NER",
            PaneId::Trending => "Trending",
            PaneId::Label => "Label",
            PaneId::Sql => "SQL",
            PaneId::Pipeline => "Pipeline",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    /// Esc: leave a full screen or a page, cancel a running query, clear the focused pane's
    /// filter or search.
    Back,
    FocusNext,
    FocusPrev,
    ToggleZoom,
    ToggleHelp,
    /// Copy the selected tweet / log line / stage error to the clipboard (OSC 52).
    Copy,
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
    /// Stages pane: the selected stage's page (everything about it, whole).
    OpenDetail,
    TogglePause,
    OpenFilter,
    OpenSearch,
    NextMatch,
    PrevMatch,
    /// Lag pane: per-partition detail of the selected group, and back.
    ToggleDetail,
    /// Trending pane: all-time counts or the sliding window.
    ToggleTrendingWindow,
    /// Label pane: give the current tweet this label value (keys from `[learn] keys`).
    Label(i32),
    /// Label pane: next tweet without a label.
    SkipTweet,
    /// Label pane: take back the last label (the tweet is shown again).
    UndoLabel,
    /// Label pane: a note for the current tweet's label.
    OpenNote,
    /// Label pane: uncertainty -> random -> newest -> disagreement.
    CycleQueueOrder,
    /// Label pane: which split the queue offers (auto, dev, test, train, weak-train).
    CycleLabelTarget,
    /// Label pane: open / close the list of the last decisions.
    ToggleReview,
    /// Label pane, review list: show the selected decision's tweet to label it again.
    ReviewJump,
    /// Focus a pane directly (`Alt-1` ... `Alt-9`).
    FocusPane(PaneId),
    /// Open the SQL pane.
    OpenSql,
    /// The pipeline screen (`P`).
    OpenPipeline,
    /// SQL pane: run the editor's query.
    RunSql,
    /// SQL pane: back to the editor.
    EditSql,
    /// SQL pane: sort by the selected column (again reverses).
    SortColumn,
    /// SQL pane: select the column left (-1) or right (+1).
    MoveColumn(isize),
    /// Logs: wrap long lines / cut them (then ←/→ scroll sideways).
    ToggleWrap,
    /// Logs: follow new lines / hold the view where it is.
    ToggleFollow,
    /// Logs: scroll sideways by this many columns (when not wrapping).
    ScrollSideways(i16),
    /// A typed `:` command (`start bronze`, `stop all`, `quit`...).
    Command(String),
}
