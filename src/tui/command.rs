//! The `:` command line: `start NAME|all`, `stop NAME|all`, `restart NAME`, `quit`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Start(Target),
    Stop(Target),
    Restart(Target),
    Quit,
    /// Open the SQL pane.
    Sql,
    Pipeline,
    /// SQL pane: write the result to a file.
    Export(String),
    /// SQL pane: pin (or unpin) the last query as a live view.
    Watch,
    /// SQL pane: list the shipped example queries, or load one.
    Examples,
    Example(String),
    /// SQL pane: list tables and columns.
    Tables,
    /// `collect new`: start collect (a new dataset version), after a yes.
    CollectNew,
    /// `dataset N` / `dataset newest`: the version the Label pane labels.
    Dataset(Option<u32>),
    /// `dataset`: list the versions with their labelled counts.
    Datasets,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    All,
    Stage(String),
}

pub const USAGE: &str = "commands: start|stop|restart <stage|all>, quit, collect new, dataset [N|newest], sql, export FILE, watch, tables, examples, example N";

pub fn parse(line: &str) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let target = |w: Option<&&str>| match w {
        Some(&"all") => Ok(Target::All),
        Some(name) => Ok(Target::Stage(name.to_string())),
        None => Err(format!("missing stage name; {USAGE}")),
    };
    match words.first().copied() {
        Some("start") if words.len() <= 2 => Ok(Command::Start(target(words.get(1))?)),
        Some("stop") if words.len() <= 2 => Ok(Command::Stop(target(words.get(1))?)),
        Some("restart") if words.len() <= 2 => Ok(Command::Restart(target(words.get(1))?)),
        Some("quit" | "q") if words.len() == 1 => Ok(Command::Quit),
        Some("sql") if words.len() == 1 => Ok(Command::Sql),
        Some("pipeline") if words.len() == 1 => Ok(Command::Pipeline),
        Some("export") => match line.trim().split_once(char::is_whitespace) {
            Some((_, file)) if !file.trim().is_empty() => Ok(Command::Export(file.trim().into())),
            _ => Err("export needs a file: export result.csv (.csv, .json, .parquet)".into()),
        },
        Some("watch") if words.len() == 1 => Ok(Command::Watch),
        Some("tables") if words.len() == 1 => Ok(Command::Tables),
        Some("examples") if words.len() == 1 => Ok(Command::Examples),
        Some("example") if words.len() == 2 => Ok(Command::Example(words[1].into())),
        Some("collect") if words.get(1) == Some(&"new") && words.len() == 2 => {
            Ok(Command::CollectNew)
        }
        Some("dataset" | "datasets") if words.len() == 1 => Ok(Command::Datasets),
        Some("dataset") if words.len() == 2 => match words[1] {
            "newest" | "latest" => Ok(Command::Dataset(None)),
            v => v
                .trim_start_matches('v')
                .parse()
                .map(|n| Command::Dataset(Some(n)))
                .map_err(|_| format!("dataset needs a version number or newest, not {v:?}")),
        },
        None => Err(USAGE.to_string()),
        _ => Err(format!("unknown command {line:?}; {USAGE}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(
            parse("start bronze"),
            Ok(Command::Start(Target::Stage("bronze".into())))
        );
        assert_eq!(parse(" stop  all "), Ok(Command::Stop(Target::All)));
        assert_eq!(
            parse("restart source"),
            Ok(Command::Restart(Target::Stage("source".into())))
        );
        assert_eq!(parse("quit"), Ok(Command::Quit));
        assert!(parse("start").is_err());
        assert!(parse("launch rockets")
            .unwrap_err()
            .contains("unknown command"));
        assert!(parse("stop a b").is_err());
    }
}
