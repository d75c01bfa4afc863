//! The `:` command line: `start NAME|all`, `stop NAME|all`, `restart NAME`, `quit`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Start(Target),
    Stop(Target),
    Restart(Target),
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    All,
    Stage(String),
}

pub const USAGE: &str = "commands: start|stop|restart <stage|all>, quit";

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
