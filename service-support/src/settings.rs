//! Layered settings, as every rt-predictor service reads them: the
//! built-in defaults (the service's file under `configs/`, embedded), an
//! optional file over them, then `(dotted key, value)` overrides that the
//! binary collected from the environment. Libraries never read the
//! environment themselves; `main` does, once, and passes the overrides in.
//!
//! Each service deserializes the merged table into its raw type and
//! validates that into the type it runs with: one [`Settings`] impl per
//! service, so defaults, layering and error origins are written once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

/// A configuration that cannot be used, with the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is invalid or has a wrong key or value.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file or variable at fault.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// Settings merged from the layers, before the service validates them.
#[derive(Debug)]
struct Layered<T> {
    raw: T,
    /// Where they came from, for error messages: the file, or
    /// `configuration` when only defaults and overrides were used.
    origin: String,
}

/// A service's settings: the raw form its TOML deserializes into, the
/// defaults it ships, and the check that turns raw into what it runs with.
pub trait Settings: Sized {
    /// The merged TOML's form (`#[serde(deny_unknown_fields)]`).
    type Raw: DeserializeOwned;
    /// The built-in defaults: the service's file under `configs/`.
    const DEFAULTS: &'static str;

    /// The raw settings validated; the message names the key at fault.
    fn validate(raw: Self::Raw) -> Result<Self, String>;

    /// The defaults, overlaid by `file` if given, then by `overrides`
    /// (dotted key, value) as the binary collected them from the
    /// environment, validated.
    fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Self, ConfigError> {
        let layer = match file {
            Some(path) => Some(Layer::read(path)?),
            None => None,
        };
        Self::from_layer(layer, overrides)
    }

    /// The same with the file's text already in hand.
    fn from_layer(layer: Option<Layer>, overrides: &[(&str, String)]) -> Result<Self, ConfigError> {
        let layered = merge_layers::<Self::Raw>(Self::DEFAULTS, layer, overrides)?;
        let origin = layered.origin;
        Self::validate(layered.raw).map_err(|message| ConfigError::Invalid { origin, message })
    }
}

/// `value` seconds as a duration; an error naming `key` unless it is a
/// positive, finite number.
pub fn positive_seconds(key: &str, value: f64) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!("{key} must be a positive number of seconds"))
    }
}

/// One TOML document laid over the defaults, and where it came from.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The file name (or another origin) named in errors.
    pub origin: String,
    /// The TOML text.
    pub text: String,
}

impl Layer {
    /// The file at `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            origin: path.display().to_string(),
            text,
        })
    }
}

/// Merges `defaults`, then `layer`, then `overrides` and deserializes the
/// result as `T`. Unknown keys are the raw type's business
/// (`#[serde(deny_unknown_fields)]`).
fn merge_layers<T: DeserializeOwned>(
    defaults: &str,
    layer: Option<Layer>,
    overrides: &[(&str, String)],
) -> Result<Layered<T>, ConfigError> {
    let invalid = |origin: &str, message: String| ConfigError::Invalid {
        origin: origin.to_owned(),
        message,
    };
    let mut table: toml::Table = defaults
        .parse()
        .map_err(|e: toml::de::Error| invalid("built-in defaults", e.to_string()))?;
    let origin = layer
        .as_ref()
        .map_or_else(|| "configuration".to_owned(), |l| l.origin.clone());
    if let Some(layer) = layer {
        let layer: toml::Table = layer
            .text
            .parse()
            .map_err(|e: toml::de::Error| invalid(&origin, e.to_string()))?;
        merge(&mut table, layer);
    }
    for (key, value) in overrides {
        set_dotted(&mut table, key, value);
    }
    // A bad value may come from the environment rather than a file; say so.
    let origin = if overrides.is_empty() {
        origin
    } else {
        let keys: Vec<String> = overrides.iter().map(|(k, _)| format!("`{k}`")).collect();
        format!("{origin} with {} from the environment", keys.join(", "))
    };
    let raw: T = table
        .try_into()
        .map_err(|e: toml::de::Error| invalid(&origin, e.to_string()))?;
    Ok(Layered { raw, origin })
}

/// The `(key, value)` overrides of `mapping` (variable, dotted key) whose
/// variable `lookup` finds; the binary passes `std::env::var`.
pub fn overrides_from<'a, E>(
    mapping: &[(&str, &'a str)],
    lookup: impl Fn(&str) -> Result<String, E>,
) -> Vec<(&'a str, String)> {
    mapping
        .iter()
        .filter_map(|(var, key)| lookup(var).ok().map(|v| (*key, v)))
        .collect()
}

fn merge(base: &mut toml::Table, layer: toml::Table) {
    for (key, value) in layer {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(l)) => merge(b, l),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Sets `a.b` = `value`: a number or boolean when it reads as one, else a
/// string (addresses, paths, tokens).
fn set_dotted(table: &mut toml::Table, key: &str, value: &str) {
    match key.split_once('.') {
        Some((head, rest)) => {
            let inner = table
                .entry(head)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(inner) = inner {
                set_dotted(inner, rest, value);
            }
        }
        None => {
            let typed = if let Ok(i) = value.parse::<i64>() {
                toml::Value::Integer(i)
            } else if let Ok(f) = value.parse::<f64>() {
                toml::Value::Float(f)
            } else if let Ok(b) = value.parse::<bool>() {
                toml::Value::Boolean(b)
            } else {
                toml::Value::String(value.into())
            };
            table.insert(key.into(), typed);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        listen: String,
        threads: u32,
        nested: Nested,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nested {
        token: String,
        factor: f64,
    }

    const DEFAULTS: &str =
        "listen = \"127.0.0.1:1\"\nthreads = 1\n[nested]\ntoken = \"\"\nfactor = 2.0\n";

    #[test]
    fn file_then_overrides_win_and_keep_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "threads = 4\n[nested]\nfactor = 3.0\n").unwrap();
        let layered: Layered<Raw> = merge_layers(
            DEFAULTS,
            Some(Layer::read(&path).unwrap()),
            &[
                ("nested.token", "s3cret".into()),
                ("listen", "0.0.0.0:9".into()),
            ],
        )
        .unwrap();
        let raw = layered.raw;
        assert_eq!(raw.threads, 4);
        assert_eq!(raw.nested.factor, 3.0);
        assert_eq!(raw.nested.token, "s3cret");
        assert_eq!(raw.listen, "0.0.0.0:9");
        assert_eq!(
            layered.origin,
            format!(
                "{} with `nested.token`, `listen` from the environment",
                path.display()
            )
        );
    }

    #[test]
    fn a_bad_value_from_the_environment_says_so() {
        let err = merge_layers::<Raw>(DEFAULTS, None, &[("threads", "many".into())])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("configuration with `threads` from the environment: ")
                && err.contains("threads"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_key_names_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "[nested]\nfactr = 3.0\n").unwrap();
        let err = merge_layers::<Raw>(DEFAULTS, Some(Layer::read(&path).unwrap()), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("s.toml") && err.contains("factr"), "{err}");
        let err = Layer::read(&dir.path().join("none.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.toml"), "{err}");
    }

    #[test]
    fn overrides_come_from_the_lookup_given() {
        let mapping = [("A_VAR", "a"), ("B_VAR", "nested.b")];
        let found = overrides_from(&mapping, |var| {
            if var == "B_VAR" {
                Ok("7".to_owned())
            } else {
                Err(())
            }
        });
        assert_eq!(found, vec![("nested.b", "7".to_owned())]);
    }
}
