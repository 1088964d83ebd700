//! A job's request in `sbatch` terms, from the command line and from a
//! batch script's `#SBATCH` lines (the command line wins, as with sbatch),
//! turned into the edge's `JobFeatures`. Every problem names its option.

use rtp_jobs::slurm::{BareNumber, MemPer, parse_duration, parse_memory};
use rtp_jobs::units::gb_from_mb;
use rtp_proto::v1::JobFeatures;

/// The sbatch options a prediction uses, as written (`None`: not given).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct SbatchOptions {
    /// Time limit, as sbatch takes it (`90` minutes, `1:30:00`, `2-00:00:00`).
    #[arg(short = 't', long = "time")]
    pub time: Option<String>,
    /// Nodes (`2`, or `2-4`: the minimum counts).
    #[arg(short = 'N', long = "nodes")]
    pub nodes: Option<String>,
    /// Tasks (default: one per node).
    #[arg(short = 'n', long = "ntasks")]
    pub ntasks: Option<String>,
    /// Processors per task (default 1).
    #[arg(short = 'c', long = "cpus-per-task")]
    pub cpus_per_task: Option<String>,
    /// Memory per node (`4000`, `4G`, `500M`).
    #[arg(long = "mem")]
    pub mem: Option<String>,
    /// Memory per processor.
    #[arg(long = "mem-per-cpu")]
    pub mem_per_cpu: Option<String>,
    /// Generic resources per node (`gpu:2`, `gpu:a100:2`).
    #[arg(long = "gres")]
    pub gres: Option<String>,
    /// GPUs for the whole job (`4`, `a100:4`).
    #[arg(short = 'G', long = "gpus")]
    pub gpus: Option<String>,
    /// Partition.
    #[arg(short = 'p', long = "partition")]
    pub partition: Option<String>,
    /// Quality of service.
    #[arg(short = 'q', long = "qos")]
    pub qos: Option<String>,
    /// Account charged.
    #[arg(short = 'A', long = "account")]
    pub account: Option<String>,
    /// Job name (default: the script's file name).
    #[arg(short = 'J', long = "job-name")]
    pub job_name: Option<String>,
    /// Working directory (default: the current one).
    #[arg(short = 'D', long = "chdir")]
    pub chdir: Option<String>,
}

/// A request that cannot be predicted, naming the option at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{option}: {reason}")]
pub struct OptionProblem {
    /// The option as sbatch spells it (`--time`).
    pub option: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

fn problem(option: &'static str, reason: impl Into<String>) -> OptionProblem {
    OptionProblem {
        option,
        reason: reason.into(),
    }
}

/// Options in the long and short spellings sbatch accepts.
const SPELLINGS: [(&str, Option<char>); 13] = [
    ("time", Some('t')),
    ("nodes", Some('N')),
    ("ntasks", Some('n')),
    ("cpus-per-task", Some('c')),
    ("mem", None),
    ("mem-per-cpu", None),
    ("gres", None),
    ("gpus", Some('G')),
    ("partition", Some('p')),
    ("qos", Some('q')),
    ("account", Some('A')),
    ("job-name", Some('J')),
    ("chdir", Some('D')),
];

impl SbatchOptions {
    /// The options of a batch script's `#SBATCH` lines (those before the
    /// first command, as sbatch reads them); options a prediction does not
    /// use are skipped.
    pub fn from_script(text: &str) -> Self {
        let mut options = Self::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || (line.starts_with('#') && !line.starts_with("#SBATCH")) {
                continue;
            }
            let Some(rest) = line.strip_prefix("#SBATCH") else {
                break;
            };
            // A comment may follow the options on the same line.
            let rest = rest.split(" #").next().unwrap_or("");
            let mut tokens = rest.split_whitespace().peekable();
            while let Some(token) = tokens.next() {
                let (name, inline) = if let Some(long) = token.strip_prefix("--") {
                    match long.split_once('=') {
                        Some((name, value)) => (long_name(name), Some(value.to_owned())),
                        None => (long_name(long), None),
                    }
                } else if let Some(short) = token.strip_prefix('-') {
                    let mut chars = short.chars();
                    let name = chars.next().and_then(short_name);
                    let attached: String = chars.collect();
                    let attached = attached.strip_prefix('=').unwrap_or(&attached).to_owned();
                    (name, (!attached.is_empty()).then_some(attached))
                } else {
                    continue;
                };
                let value = match inline {
                    Some(value) => Some(value),
                    None if tokens.peek().is_some_and(|t| !t.starts_with('-')) => {
                        tokens.next().map(str::to_owned)
                    }
                    None => None,
                };
                if let (Some(name), Some(value)) = (name, value) {
                    options.set(name, value);
                }
            }
        }
        options
    }

    fn set(&mut self, name: &str, value: String) {
        let slot = match name {
            "time" => &mut self.time,
            "nodes" => &mut self.nodes,
            "ntasks" => &mut self.ntasks,
            "cpus-per-task" => &mut self.cpus_per_task,
            "mem" => &mut self.mem,
            "mem-per-cpu" => &mut self.mem_per_cpu,
            "gres" => &mut self.gres,
            "gpus" => &mut self.gpus,
            "partition" => &mut self.partition,
            "qos" => &mut self.qos,
            "account" => &mut self.account,
            "job-name" => &mut self.job_name,
            "chdir" => &mut self.chdir,
            _ => return,
        };
        *slot = Some(value);
    }

    /// These options, each one not given here taken from `script`.
    pub fn over(self, script: Self) -> Self {
        Self {
            time: self.time.or(script.time),
            nodes: self.nodes.or(script.nodes),
            ntasks: self.ntasks.or(script.ntasks),
            cpus_per_task: self.cpus_per_task.or(script.cpus_per_task),
            mem: self.mem.or(script.mem),
            mem_per_cpu: self.mem_per_cpu.or(script.mem_per_cpu),
            gres: self.gres.or(script.gres),
            gpus: self.gpus.or(script.gpus),
            partition: self.partition.or(script.partition),
            qos: self.qos.or(script.qos),
            account: self.account.or(script.account),
            job_name: self.job_name.or(script.job_name),
            chdir: self.chdir.or(script.chdir),
        }
    }

    /// The job as the edge takes it, for `user`.
    pub fn features(&self, user: &str) -> Result<JobFeatures, OptionProblem> {
        let time = self.time.as_deref().ok_or_else(|| {
            problem(
                "--time",
                "a limit is needed: the request is what the model corrects",
            )
        })?;
        let wallclock = parse_duration(time, BareNumber::Minutes)
            .map_err(|e| problem("--time", e))?
            .filter(|s| *s > 0.0)
            .ok_or_else(|| {
                problem(
                    "--time",
                    format!("{time:?} is no limit: give a positive duration"),
                )
            })?;
        let nodes = count("--nodes", self.nodes.as_deref(), true)?.unwrap_or(1);
        let tasks = count("--ntasks", self.ntasks.as_deref(), false)?.unwrap_or(nodes);
        let per_task = count("--cpus-per-task", self.cpus_per_task.as_deref(), false)?.unwrap_or(1);
        let processors = tasks
            .checked_mul(per_task)
            .ok_or_else(|| problem("--ntasks", "too many processors"))?;
        let mem_mb = match (&self.mem, &self.mem_per_cpu) {
            (Some(_), Some(_)) => {
                return Err(problem("--mem", "give --mem or --mem-per-cpu, not both"));
            }
            (Some(mem), None) => memory("--mem", mem)?.map(|mb| mb * f64::from(nodes)),
            (None, Some(mem)) => memory("--mem-per-cpu", mem)?.map(|mb| mb * f64::from(processors)),
            (None, None) => None,
        };
        let gpus = match (&self.gpus, &self.gres) {
            (Some(gpus), _) => gpu_count("--gpus", gpus)?,
            (None, Some(gres)) => gpu_count("--gres", gres)?
                .checked_mul(nodes)
                .ok_or_else(|| problem("--gres", "too many GPUs"))?,
            (None, None) => 0,
        };
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Ok(JobFeatures {
            processors_req: processors,
            nodes_req: nodes,
            mem_req: mem_mb.map_or(0.0, gb_from_mb),
            wallclock_req: wallclock,
            partition: text(&self.partition),
            qos: text(&self.qos),
            submit_time: 0,
            user: user.to_owned(),
            account: text(&self.account),
            gpus_req: gpus,
            job_name: text(&self.job_name),
            work_dir: text(&self.chdir),
            job_id: String::new(),
        })
    }
}

fn long_name(name: &str) -> Option<&'static str> {
    SPELLINGS
        .iter()
        .find(|(long, _)| *long == name)
        .map(|(long, _)| *long)
}

fn short_name(c: char) -> Option<&'static str> {
    SPELLINGS
        .iter()
        .find(|(_, short)| *short == Some(c))
        .map(|(long, _)| *long)
}

/// A positive count; with `range`, `2-4` counts its minimum.
fn count(
    option: &'static str,
    value: Option<&str>,
    range: bool,
) -> Result<Option<i32>, OptionProblem> {
    let Some(value) = value else {
        return Ok(None);
    };
    let first = if range {
        value.split('-').next().unwrap_or(value)
    } else {
        value
    };
    match first.trim().parse::<i32>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(problem(
            option,
            format!("{value:?} is not a positive number"),
        )),
    }
}

/// Memory in MB; sbatch reads a bare number as MB.
fn memory(option: &'static str, value: &str) -> Result<Option<f64>, OptionProblem> {
    match parse_memory(value).map_err(|e| problem(option, e))? {
        Some((mb, MemPer::Node)) => Ok(Some(mb)),
        Some((_, MemPer::Cpu)) => Err(problem(option, format!("{value:?}: no suffix c here"))),
        None => Ok(None),
    }
}

/// GPUs in `gpu:2`, `gpu:a100:2`, `gpu` (one), `4` or `a100:4` (for
/// `--gpus`); other generic resources count none.
fn gpu_count(option: &'static str, value: &str) -> Result<i32, OptionProblem> {
    let mut total = 0i32;
    for item in value.split(',') {
        let parts: Vec<&str> = item.trim().split(':').collect();
        let (is_gpu, last) = match option {
            "--gpus" => (true, parts.last().copied()),
            _ => (
                parts.first() == Some(&"gpu"),
                parts.get(1..).and_then(|p| p.last().copied()),
            ),
        };
        if !is_gpu {
            continue;
        }
        let n = match last {
            None => 1,
            // `gpu:a100` names a type and asks for one.
            Some(text) if text.chars().next().is_some_and(|c| !c.is_ascii_digit()) => 1,
            Some(text) => match text.parse::<i32>() {
                Ok(n) if n >= 0 => n,
                _ => return Err(problem(option, format!("{item:?}: not a GPU count"))),
            },
        };
        total = total
            .checked_add(n)
            .ok_or_else(|| problem(option, "too many GPUs"))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_lines_give_what_the_command_line_does_not() {
        let script = "#!/bin/bash\n#SBATCH --time=2:00:00\n#SBATCH -N 2 # two nodes\n#SBATCH -p long\n#SBATCH --output=x.out\n#SBATCH --exclusive\n#SBATCH -c4\n#SBATCH --gres=gpu:a100:2\nsrun hostname\n#SBATCH --qos=late\n";
        let from_script = SbatchOptions::from_script(script);
        assert_eq!(from_script.time.as_deref(), Some("2:00:00"));
        assert_eq!(from_script.nodes.as_deref(), Some("2"));
        assert_eq!(from_script.partition.as_deref(), Some("long"));
        assert_eq!(from_script.cpus_per_task.as_deref(), Some("4"));
        assert_eq!(from_script.qos, None, "sbatch stops at the first command");
        let given = SbatchOptions {
            time: Some("30".into()),
            ..Default::default()
        };
        let job = given.over(from_script).features("alice").unwrap();
        assert_eq!(job.wallclock_req, 1_800.0);
        assert_eq!((job.nodes_req, job.processors_req), (2, 8));
        assert_eq!(job.gpus_req, 4);
        assert_eq!(job.partition, "long");
        assert_eq!(job.user, "alice");
    }

    #[test]
    fn memory_counts_for_the_whole_job() {
        let per_node = SbatchOptions {
            time: Some("10".into()),
            nodes: Some("2".into()),
            mem: Some("4G".into()),
            ..Default::default()
        };
        assert_eq!(per_node.features("u").unwrap().mem_req, 8.0);
        let per_cpu = SbatchOptions {
            time: Some("10".into()),
            ntasks: Some("4".into()),
            mem_per_cpu: Some("512".into()),
            ..Default::default()
        };
        assert_eq!(per_cpu.features("u").unwrap().mem_req, 2.0);
    }

    #[test]
    fn problems_name_the_option() {
        let bad = |options: SbatchOptions| options.features("u").unwrap_err().option;
        let time = |t: &str| SbatchOptions {
            time: Some(t.into()),
            ..Default::default()
        };
        assert_eq!(bad(SbatchOptions::default()), "--time");
        assert_eq!(bad(time("soon")), "--time");
        assert_eq!(bad(time("UNLIMITED")), "--time");
        assert_eq!(
            bad(SbatchOptions {
                nodes: Some("zero".into()),
                ..time("10")
            }),
            "--nodes"
        );
        assert_eq!(
            bad(SbatchOptions {
                mem: Some("lots".into()),
                ..time("10")
            }),
            "--mem"
        );
        assert_eq!(
            bad(SbatchOptions {
                gres: Some("gpu:2x".into()),
                ..time("10")
            }),
            "--gres"
        );
    }
}
