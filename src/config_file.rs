//! The `--config` TOML layer of `serve`'s settings.
//!
//! Clap already layers flag > environment variable > default from the one declaration of
//! each setting in [`crate::cli::Settings`]. The file goes between the variable and the
//! default: every key whose setting neither a flag nor a variable set is handed back to
//! clap as `--<key>=<value>` and the command line is parsed again. So a file value goes
//! through the same parser as the flag (same formats, same errors), and no setting is
//! written a second time for the file. A key that is not a setting is refused by name.
//!
//! Why not a layering crate such as figment: it deserializes through serde, so each
//! setting would need a second declaration (a serde struct beside the clap one, or
//! `Option` fields with their defaults kept elsewhere), and file values would be parsed
//! by serde rather than by the flag's parser.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::Cli;

/// Parses the command line (exiting with clap's message on `--help` or a bad flag), then
/// fills `serve`'s unset settings from its `--config` file.
pub fn parse() -> anyhow::Result<Cli> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let matches = Cli::command().get_matches_from(&args);
    let Some(("serve", serve)) = matches.subcommand() else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    let Some(path) = serve.get_one::<PathBuf>("config") else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    let from_file =
        file_args(serve, &read(path)?).with_context(|| format!("parsing {}", path.display()))?;
    let matches = Cli::command()
        .try_get_matches_from(args.iter().cloned().chain(from_file))
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim()))?;
    Ok(Cli::from_arg_matches(&matches)?)
}

fn read(path: &Path) -> anyhow::Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The file's settings as flags, for every key that no flag or variable already set.
fn file_args(serve: &ArgMatches, table: &toml::Table) -> anyhow::Result<Vec<OsString>> {
    let command = Cli::command();
    let settings = command
        .find_subcommand("serve")
        .context("the serve command")?;
    let mut flags = Vec::new();
    for (key, value) in table {
        let arg = settings
            .get_arguments()
            .find(|arg| arg.get_long() == Some(key.as_str()) && key != "config")
            .with_context(|| format!("unknown setting `{key}`"))?;
        let set_elsewhere = matches!(
            serve.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if !set_elsewhere {
            push_flags(&mut flags, arg, key, value)?;
        }
    }
    Ok(flags)
}

/// `key = value` as `--key=value` (one per array element; a switch only when `true`).
fn push_flags(
    flags: &mut Vec<OsString>,
    arg: &Arg,
    key: &str,
    value: &toml::Value,
) -> anyhow::Result<()> {
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        let on = value
            .as_bool()
            .with_context(|| format!("`{key}` must be true or false"))?;
        if on {
            flags.push(format!("--{key}").into());
        }
        return Ok(());
    }
    let values = match value {
        toml::Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    for value in values {
        let text = match value {
            // `[[bridge]]`: a table is the flag's `key=value,...` form.
            toml::Value::Table(table) if matches!(arg.get_action(), ArgAction::Append) => {
                pairs(key, table)?
            }
            scalar => scalar_text(scalar)
                .with_context(|| format!("`{key}` must be a string, a number or a list of them"))?,
        };
        flags.push(format!("--{key}={text}").into());
    }
    Ok(())
}

fn scalar_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(n) => Some(n.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A table as `k=v,k=v` (a list value repeats its key), for settings such as `--bridge`
/// whose one value has several parts.
fn pairs(key: &str, table: &toml::Table) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for (name, value) in table {
        let items = match value {
            toml::Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        for item in items {
            let text = scalar_text(item).with_context(|| {
                format!("`{key}.{name}` must be a string, a number or a list of them")
            })?;
            anyhow::ensure!(
                !text.contains(','),
                "`{key}.{name}` may not contain a comma"
            );
            parts.push(format!("{name}={text}"));
        }
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_matches(args: &[&str]) -> ArgMatches {
        let argv = ["magnetite", "serve"].iter().chain(args);
        let matches = Cli::command().get_matches_from(argv);
        match matches.subcommand() {
            Some(("serve", serve)) => serve.clone(),
            _ => panic!("serve"),
        }
    }

    #[test]
    fn file_fills_only_what_no_flag_set_and_switches_only_when_true() {
        let serve = serve_matches(&["--mqtt-addr", "127.0.0.1:1"]);
        let table: toml::Table = toml::from_str(
            "mqtt-addr = \"127.0.0.1:2\"\nevent-store = [\"redis://a\", \"nats://b\"]\nmax-queued = 5\ntls-self-signed = true\n",
        )
        .unwrap();
        let flags = file_args(&serve, &table).unwrap();
        let expected: Vec<OsString> = [
            "--event-store=redis://a",
            "--event-store=nats://b",
            "--max-queued=5",
            "--tls-self-signed",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(flags, expected);
        let off: toml::Table = toml::from_str("tls-self-signed = false\n").unwrap();
        assert!(file_args(&serve, &off).unwrap().is_empty());
    }

    #[test]
    fn bridge_tables_become_one_flag_each() {
        let serve = serve_matches(&[]);
        let table: toml::Table = toml::from_str(
            "[[bridge]]\nurl = \"mqtt://a:1883\"\nout = [\"s/# -> e/s/#\", \"t\"]\nclean = false\n\n[[bridge]]\nname = \"b\"\nurl = \"mqtt://b\"\n",
        )
        .unwrap();
        let flags = file_args(&serve, &table).unwrap();
        let expected: Vec<OsString> = [
            "--bridge=clean=false,out=s/# -> e/s/#,out=t,url=mqtt://a:1883",
            "--bridge=name=b,url=mqtt://b",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(flags, expected);
        let comma: toml::Table = toml::from_str("[[bridge]]\nurl = \"a,b\"\n").unwrap();
        assert!(file_args(&serve, &comma).is_err());
    }

    #[test]
    fn keys_that_are_no_setting_are_refused_by_name() {
        let serve = serve_matches(&[]);
        for key in ["config", "max_queued", "auth-key", "admin-password"] {
            let table: toml::Table = toml::from_str(&format!("{key} = \"x\"\n")).unwrap();
            let error = file_args(&serve, &table).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
        let table: toml::Table = toml::from_str("max-queued = { a = 1 }\n").unwrap();
        assert!(file_args(&serve, &table).is_err());
    }
}
