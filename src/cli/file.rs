//! `--config FILE`: a TOML file whose keys are the long flag names (`dir = "/srv/files"`,
//! `limit-rate-total = "50M"`, repeated flags as arrays, switches as `true`). Precedence: a flag
//! on the command line, then its environment variable, then the file, then the default. The
//! file's settings become command-line arguments placed before the real ones, for every key
//! whose flag was neither given nor set in the environment — so clap checks their values as it
//! checks a flag's, and an error in one is reported with the file, line and key.
//!
//! Pure but for reading the file: [`parse`] (TOML → settings with their lines), [`arguments`]
//! (settings → arguments, given the clap definition, the command line and the environment),
//! [`example`] (every key with its default, from the same definition, so it cannot drift).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, Command};

/// The flag (and environment variable) naming the file.
pub const FLAG: &str = "config";
pub const ENV: &str = "RANGESERVE_CONFIG";

/// One key of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: Value,
    /// 1-based.
    pub line: usize,
}

/// A key's value, as TOML typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    /// A string, integer or float, as the flag would take it.
    One(String),
    Many(Vec<String>),
    /// A table, a date, an array of non-scalars.
    Other(&'static str),
}

/// A file that cannot be used: `FILE:LINE: message` (line 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.path.display(), self.message),
            line => write!(f, "{}:{line}: {}", self.path.display(), self.message),
        }
    }
}

fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn scalar(value: &toml_edit::Value) -> Option<String> {
    match value {
        toml_edit::Value::String(s) => Some(s.value().clone()),
        toml_edit::Value::Integer(n) => Some(n.value().to_string()),
        toml_edit::Value::Float(x) => Some(x.value().to_string()),
        _ => None,
    }
}

/// The settings of a file's text, in order (`path` names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Vec<Setting>, FileError> {
    let error = |line, message: String| FileError {
        path: path.to_path_buf(),
        line,
        message,
    };
    let doc = toml_edit::ImDocument::parse(text).map_err(|err| {
        let line = err.span().map_or(0, |span| line_of(text, span.start));
        let message = err.message().trim().replace('\n', " ");
        error(line, format!("not TOML: {message}"))
    })?;
    let mut settings = Vec::new();
    for (key, item) in doc.iter() {
        let line = doc
            .get_key_value(key)
            .and_then(|(k, _)| k.span())
            .map_or(0, |span| line_of(text, span.start));
        let value = match item {
            toml_edit::Item::Value(toml_edit::Value::Boolean(b)) => Value::Bool(*b.value()),
            toml_edit::Item::Value(toml_edit::Value::Array(items)) => {
                match items.iter().map(scalar).collect::<Option<Vec<_>>>() {
                    Some(all) => Value::Many(all),
                    None => Value::Other("an array of tables or arrays"),
                }
            }
            toml_edit::Item::Value(value) => match scalar(value) {
                Some(one) => Value::One(one),
                None => Value::Other("a date"),
            },
            _ => Value::Other("a table"),
        };
        settings.push(Setting {
            key: key.to_string(),
            value,
            line,
        });
    }
    Ok(settings)
}

/// The flags a file may set: every long flag of the server but `--config`, help and version.
fn settable(cli: &Command) -> impl Iterator<Item = (&str, &Arg)> {
    cli.get_arguments().filter_map(|arg| {
        let long = arg.get_long()?;
        let skip = matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpLong | ArgAction::HelpShort | ArgAction::Version
        );
        (!skip && long != FLAG).then_some((long, arg))
    })
}

/// Flags that cannot go together though clap does not say so (the start-up checks them).
fn exclusive(a: &str, b: &str) -> bool {
    matches!((a, b), ("file", "dir") | ("dir", "file"))
}

/// The arguments the file's settings add before the command line's (`argv`, program name
/// first). `env_set` says whether an environment variable is set. A key naming no flag, or of
/// a type the flag cannot take, is an error naming its line.
pub fn arguments(
    cli: &Command,
    argv: &[OsString],
    path: &Path,
    settings: &[Setting],
    env_set: impl Fn(&str) -> bool,
) -> Result<Vec<OsString>, FileError> {
    // What the command line itself gives (no requirement checked: the file may supply them).
    let given = cli
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(argv)
        .ok();
    let mut out = Vec::new();
    for setting in settings {
        let error = |message: String| FileError {
            path: path.to_path_buf(),
            line: setting.line,
            message: format!("{}: {message}", setting.key),
        };
        let Some((long, arg)) = settable(cli).find(|(long, _)| *long == setting.key) else {
            return Err(error(
                "no such setting (the keys are the long flag names; `rangeserve config-example` lists them)"
                    .into(),
            ));
        };
        let given_outside = |arg: &Arg| {
            let on_command_line = given.as_ref().is_some_and(|m| {
                m.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine)
            });
            let in_env = arg
                .get_env()
                .is_some_and(|name| env_set(&name.to_string_lossy()));
            on_command_line || in_env
        };
        let overridden = given_outside(arg);
        // A key is also dropped when a flag it cannot go with is given: `--file X` on the
        // command line replaces the file's `dir`, `--signed-links` its `secret-path`.
        let excluded = cli
            .get_arguments()
            .filter(|other| {
                let other_long = other.get_long().unwrap_or_default();
                exclusive(long, other_long)
                    || cli
                        .get_arg_conflicts_with(arg)
                        .iter()
                        .any(|c| c.get_id() == other.get_id())
            })
            .any(given_outside);
        if excluded {
            continue;
        }
        let switch = matches!(arg.get_action(), ArgAction::SetTrue);
        let repeatable = matches!(arg.get_action(), ArgAction::Append);
        let values = match (&setting.value, switch, repeatable) {
            (Value::Bool(on), true, _) => {
                if *on && !overridden {
                    out.push(OsString::from(format!("--{long}")));
                }
                continue;
            }
            (Value::One(one), false, _) => vec![one.clone()],
            (Value::Many(many), false, true) => many.clone(),
            (Value::Many(_), false, false) => {
                return Err(error("takes one value, not an array".into()));
            }
            (_, true, _) => return Err(error("is a switch: true or false".into())),
            (Value::Bool(_), false, _) => {
                return Err(error(
                    "takes a value (a string or a number), not true/false".into(),
                ));
            }
            (Value::Other(what), false, _) => {
                return Err(error(format!("takes a string or a number, not {what}")));
            }
        };
        if overridden {
            continue;
        }
        for value in values {
            out.push(OsString::from(format!("--{long}={value}")));
        }
    }
    Ok(out)
}

/// The command line to parse: `argv` with the settings of the file it names (by `--config` or
/// [`ENV`]) placed after the program name. No file named, or a subcommand asked for: `argv`
/// as it is. Also the settings and the file, for [`blame`].
pub fn load(argv: Vec<OsString>) -> Result<(Vec<OsString>, Option<Loaded>), FileError> {
    let Some(path) = named(&argv, std::env::var_os(ENV)) else {
        return Ok((argv, None));
    };
    // Help and the version need no settings (and a bad file must not stop them).
    let asks_help = argv
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| matches!(a.to_str(), Some("-h" | "--help" | "-V" | "--version")));
    if asks_help {
        return Ok((argv, None));
    }
    let cli = <crate::cli::Args as clap::CommandFactory>::command();
    let asked = cli.clone().ignore_errors(true).try_get_matches_from(&argv);
    if asked.is_ok_and(|m| m.subcommand_name().is_some()) {
        return Ok((argv, None));
    }
    let text = std::fs::read_to_string(&path).map_err(|err| FileError {
        path: path.clone(),
        line: 0,
        message: format!("cannot read it: {}", crate::error::describe(&err)),
    })?;
    let settings = parse(&path, &text)?;
    let added = arguments(&cli, &argv, &path, &settings, |name| {
        std::env::var_os(name).is_some()
    })?;
    let mut full = argv;
    full.splice(1..1, added);
    Ok((full, Some(Loaded { path, settings })))
}

/// A file's settings, kept to blame a value clap refuses on its line.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub settings: Vec<Setting>,
}

/// The file error behind a command-line error, when the refused value came from the file (the
/// flag named in the error is one the file set and the command line did not).
pub fn blame(err: &clap::Error, loaded: &Loaded, argv: &[OsString]) -> Option<FileError> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg.strip_prefix("--")?.split([' ', '=']).next()?;
    let on_command_line = argv.iter().skip(1).any(|a| {
        let a = a.to_string_lossy();
        a == format!("--{long}") || a.starts_with(&format!("--{long}="))
    });
    let setting = loaded.settings.iter().find(|s| s.key == long)?;
    // Set on the command line or in the environment: the value is not the file's.
    let cli = <crate::cli::Args as clap::CommandFactory>::command();
    let in_env = cli
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .is_some_and(|name| std::env::var_os(name).is_some());
    if on_command_line || in_env {
        return None;
    }
    let first = err.to_string();
    let first = first.lines().next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first);
    Some(FileError {
        path: loaded.path.clone(),
        line: setting.line,
        message: format!("{long}: {message}"),
    })
}

/// The file named by `--config FILE`/`--config=FILE` on the command line (before `--`), else by
/// the environment (`env`); none when a subcommand is asked for.
pub fn named(argv: &[OsString], env: Option<OsString>) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let mut args = argv.iter().skip(1);
    let (flag, with_value) = (format!("--{FLAG}"), format!("--{FLAG}="));
    while let Some(arg) = args.next() {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            break;
        }
        if bytes == flag.as_bytes() {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = bytes.strip_prefix(with_value.as_bytes()) {
            return Some(PathBuf::from(std::ffi::OsStr::from_bytes(path)));
        }
    }
    env.filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// A commented file with every key, its help and its default (`rangeserve config-example`).
pub fn example(cli: &Command) -> String {
    let mut out = String::from(
        "# rangeserve configuration: `rangeserve --config FILE` (or RANGESERVE_CONFIG=FILE).\n\
         # Keys are the long flag names. A flag on the command line or its environment variable\n\
         # overrides the key; an unset key takes the default shown. Repeatable flags take arrays,\n\
         # switches take true or false.\n",
    );
    for (long, arg) in settable(cli) {
        out.push('\n');
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        for line in crate::text::wrap(&help, 96) {
            out.push_str(&format!("# {line}\n"));
        }
        if let Some(env) = arg.get_env() {
            out.push_str(&format!("# (environment: {})\n", env.to_string_lossy()));
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let shown = match arg.get_action() {
            ArgAction::SetTrue => "false".to_string(),
            ArgAction::Append => "[]".to_string(),
            _ => match defaults.first() {
                Some(value) if value.parse::<f64>().is_ok() => value.clone(),
                Some(value) => format!("{value:?}"),
                None => {
                    let placeholder = arg
                        .get_value_names()
                        .and_then(|names| names.first())
                        .map_or("VALUE".to_string(), |n| n.to_string());
                    format!("{placeholder:?}  # no default")
                }
            },
        };
        out.push_str(&format!("#{long} = {shown}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn cli() -> Command {
        crate::cli::Args::command()
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    const FILE: &str = "dir = \"/srv/files\"\nport = 8080\nhidden = true\nmirror = [\"http://a\", \"http://b\"]\nlimit-rate-total = \"50M\"\n";

    #[test]
    fn keys_become_flags_unless_the_command_line_or_the_environment_has_them() {
        let path = Path::new("/etc/rangeserve.toml");
        let settings = parse(path, FILE).unwrap();
        assert_eq!(settings[1].line, 2);
        let none = |_: &str| false;
        let added = arguments(&cli(), &os(&["rangeserve"]), path, &settings, none).unwrap();
        assert_eq!(
            added,
            os(&[
                "--dir=/srv/files",
                "--port=8080",
                "--hidden",
                "--mirror=http://a",
                "--mirror=http://b",
                "--limit-rate-total=50M"
            ])
        );
        let argv = os(&["rangeserve", "--port", "9000", "--mirror=http://c"]);
        let env = |name: &str| name == "RANGESERVE_LIMIT_RATE_TOTAL" || name == "RANGESERVE_DIR";
        let added = arguments(&cli(), &argv, path, &settings, env).unwrap();
        assert_eq!(added, os(&["--hidden"]));
    }

    #[test]
    fn a_flag_given_elsewhere_drops_the_keys_it_cannot_go_with() {
        let path = Path::new("f.toml");
        let text = "dir = \"/srv\"\nsecret-path = true\ntls-self-signed = true\nport = 1\n";
        let settings = parse(path, text).unwrap();
        let argv = os(&["rangeserve", "--file", "x", "--signed-links"]);
        let added = arguments(&cli(), &argv, path, &settings, |name| {
            name == "RANGESERVE_TLS_CERT"
        })
        .unwrap();
        assert_eq!(added, os(&["--port=1"]));
    }

    #[test]
    fn unknown_keys_wrong_types_and_bad_toml_name_the_line() {
        let path = Path::new("f.toml");
        let check = |text: &str| {
            let settings = parse(path, text)?;
            arguments(&cli(), &os(&["rangeserve"]), path, &settings, |_| false).map(|_| ())
        };
        for (text, want) in [
            ("port = 1\nprot = 2\n", "f.toml:2: prot: no such setting"),
            ("\n\nhidden = \"yes\"\n", "f.toml:3: hidden: is a switch"),
            (
                "port = [1, 2]\n",
                "f.toml:1: port: takes one value, not an array",
            ),
            ("dir = true\n", "f.toml:1: dir: takes a value"),
            (
                "[dir]\nx = 1\n",
                "f.toml:1: dir: takes a string or a number, not a table",
            ),
            ("config = \"x\"\n", "f.toml:1: config: no such setting"),
            ("port = \n", "f.toml:1: not TOML"),
        ] {
            let got = check(text).unwrap_err().to_string();
            assert!(got.starts_with(want), "{text:?}: {got}");
            assert!(!got.contains('\n'), "one line: {got:?}");
        }
    }

    #[test]
    fn the_file_is_named_by_the_flag_before_the_environment() {
        let env = Some(OsString::from("/env.toml"));
        assert_eq!(
            named(&os(&["r", "--config", "/a.toml"]), env.clone()),
            Some(PathBuf::from("/a.toml"))
        );
        assert_eq!(
            named(&os(&["r", "--config=/b.toml"]), env.clone()),
            Some(PathBuf::from("/b.toml"))
        );
        assert_eq!(named(&os(&["r"]), env), Some(PathBuf::from("/env.toml")));
        assert_eq!(named(&os(&["r", "--", "--config=x"]), None), None);
    }

    #[test]
    fn the_example_has_every_flag_and_is_valid_toml_when_uncommented() {
        let text = example(&cli());
        for (long, _) in settable(&cli()) {
            assert!(text.contains(&format!("\n#{long} = ")), "{long} missing");
        }
        assert!(text.contains("\n#port = 8000\n"), "{text}");
        assert!(text.contains("\n#hidden = false\n"));
        assert!(text.contains("\n#mirror = []\n"));
        // Every key line, uncommented, is TOML of the right type for its flag.
        let keys: String = text
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| l.contains(" = ") && !l.starts_with(' '))
            .map(|l| format!("{}\n", l.split("  #").next().unwrap_or(l)))
            .collect();
        let settings = parse(Path::new("example"), &keys).unwrap();
        assert_eq!(settings.len(), settable(&cli()).count());
        arguments(
            &cli(),
            &os(&["rangeserve"]),
            Path::new("x"),
            &settings,
            |_| false,
        )
        .unwrap();
    }
}
