//! What the page draws, built from a history (any format the checker
//! reads) and, when there is one, the run's artifact: client lanes of
//! operations, node lanes of roles, the nemesis's fault spans, the
//! violating core and the notes that say what was left out.
//!
//! Everything is on one axis: milliseconds since the workload started
//! (for Jepsen's formats, whose times are line numbers, lines).

use std::collections::BTreeMap;

use madsim_net::artifact::{Artifact, Status};
use serde::Serialize;
use twinnet_check::{History, Operation, Outcome, Value};

use super::faults::{self, FaultSpan, LostWrites};
use super::record::{RoleLog, TimelineRecord, ViolationCore};
use crate::nemesis::AppliedFault;
use crate::workload::Model;

type NodeId = u64;

/// Operations drawn at most; past it the page draws the ones nearest the
/// violation in time (or the earliest) and says how many it left out.
pub const MAX_OPS_DRAWN: usize = 4_000;
/// Client lanes at most; ops of processes past it are counted as not drawn.
pub const MAX_CLIENT_LANES: usize = 128;
/// Longest argument or result text kept per operation.
pub const MAX_VALUE_CHARS: usize = 96;
/// Longest failure text shown (the artifact keeps all of it).
pub const MAX_FAILURE_CHARS: usize = 6_000;
/// Failures listed at most.
pub const MAX_FAILURES: usize = 20;
/// Processes a lane lists by id; the others are counted.
pub const MAX_LANE_PROCESSES_LISTED: usize = 8;
/// Bytes the embedded data may take; past it fewer ops are drawn, so the
/// page (its script and style add about 40 KB) stays under 2 MiB whatever
/// the history holds. Everything else in the data is bounded well below
/// this: role changes, fault steps, failures and notes.
pub const MAX_DATA_BYTES: usize = 1_800_000;

/// The whole page's data, embedded as one JSON blob.
#[derive(Debug, Clone, Serialize)]
pub struct PageData {
    pub title: String,
    pub subtitle: String,
    /// `failed`, `passed`, or `None` for a bare history.
    pub status: Option<&'static str>,
    pub failures: Vec<String>,
    pub replay: Option<String>,
    /// `ms` (our JSONL) or `line` (Jepsen's formats).
    pub unit: &'static str,
    pub start: f64,
    pub end: f64,
    pub lanes: Vec<ClientLane>,
    pub ops: Vec<DrawnOp>,
    pub nodes: Vec<NodeLane>,
    pub faults: Vec<FaultSpan>,
    pub lost: Vec<LostWrites>,
    pub core: Option<CoreView>,
    pub notes: Vec<String>,
    /// Operations in the history, drawn or not.
    pub total_ops: usize,
}

/// One client: the processes that took turns on it (a process whose op
/// ended indeterminate retires; the client goes on as a new process).
#[derive(Debug, Clone, Serialize)]
pub struct ClientLane {
    pub label: String,
    /// The first [`MAX_LANE_PROCESSES_LISTED`] of them.
    pub processes: Vec<u64>,
    /// How many more took turns on it.
    pub more_processes: usize,
}

/// One operation as a bar.
#[derive(Debug, Clone, Serialize)]
pub struct DrawnOp {
    pub lane: usize,
    pub process: u64,
    pub from: f64,
    /// Its completion; for an `info` the moment the client gave up, for
    /// one never answered the end of the history.
    pub to: f64,
    /// `ok`, `fail`, `info` or `pending`.
    pub outcome: &'static str,
    pub f: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub arg: String,
    pub result: String,
    /// 1-based line of its invocation in the history.
    pub line: u64,
    /// Its invocation time as the history has it (what a core names).
    #[serde(skip)]
    pub call: u64,
    /// Position in the violating core (1-based), if it is in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core: Option<usize>,
}

/// A node's roles over time.
#[derive(Debug, Clone, Serialize)]
pub struct NodeLane {
    pub id: NodeId,
    pub spans: Vec<RoleSpan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleSpan {
    pub from: f64,
    pub to: f64,
    pub role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
}

/// The violating core: why, and which drawn ops (indices into `ops`).
#[derive(Debug, Clone, Serialize)]
pub struct CoreView {
    pub key: Option<String>,
    pub reason: String,
    pub ops: Vec<usize>,
    /// Core ops the history did not have (a mismatched artifact).
    pub missing: usize,
}

/// What a page is built from.
pub struct Sources<'a> {
    /// The history's text (our JSONL, a Jepsen etcd log or EDN lines).
    pub history_text: &'a str,
    /// Named in the title when there is no artifact.
    pub history_name: &'a str,
    pub artifact: Option<&'a Artifact>,
    /// The model to check with when no record says what the check found
    /// (default: the artifact's, else guessed from the operations).
    pub model: Option<Model>,
}

/// Why no page could be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{name} is not a history the checker reads: {error}")]
    History {
        name: String,
        error: twinnet_check::HistoryError,
    },
}

/// Builds the page's data; never fails on what the artifact lacks (the
/// notes say what could not be drawn), only on an unreadable history.
pub fn build(sources: &Sources<'_>) -> Result<PageData, BuildError> {
    let history =
        twinnet_check::parse_str(sources.history_text).map_err(|error| BuildError::History {
            name: sources.history_name.to_string(),
            error,
        })?;
    let mut notes = Vec::new();
    let record = sources.artifact.and_then(|a| read_record(a, &mut notes));
    let unit = if history.format().times_are_nanos() {
        "ms"
    } else {
        "line"
    };
    let axis = Axis {
        nanos: unit == "ms",
        workload_start_ns: record.as_ref().map(|r| r.workload_start_ns),
    };
    let line_times = LineTimes::new(sources.history_text, axis.nanos);
    let history_end = history_end(&history, &line_times);
    let mut all_ops: Vec<DrawnOp> = history
        .ops()
        .iter()
        .map(|op| drawn_op(op, &axis, &line_times, history_end))
        .collect();
    let lanes = pack_lanes(&mut all_ops);
    let core = find_core(sources, &history, record.as_ref(), &mut notes);
    let (faults, lost) = sources
        .artifact
        .map(|a| read_faults(a, &axis, &mut notes))
        .unwrap_or_default();
    let nodes = node_lanes(sources.artifact, record.as_ref(), &axis, &mut notes);
    let mut page = PageData {
        title: title(sources),
        subtitle: sources.artifact.map(subtitle).unwrap_or_default(),
        status: sources.artifact.map(|a| match a.status {
            Status::Passed => "passed",
            Status::Failed => "failed",
        }),
        failures: sources
            .artifact
            .map(|a| failures(a, record.as_ref()))
            .unwrap_or_default(),
        replay: sources.artifact.map(|a| a.replay.clone()),
        unit,
        start: 0.0,
        end: 0.0,
        lanes,
        ops: Vec::new(),
        nodes,
        faults,
        lost,
        core: None,
        notes,
        total_ops: all_ops.len(),
    };
    mark_core(&mut all_ops, core.as_ref());
    choose_ops(&mut page, all_ops, core.as_ref());
    set_span(&mut page);
    Ok(page)
}

/// Maps the artifact's clocks onto the axis.
struct Axis {
    /// The history's times are ns (else line numbers).
    nanos: bool,
    /// Where the workload started on the event log's clock, if recorded.
    workload_start_ns: Option<u64>,
}

impl Axis {
    fn history(&self, time: u64) -> f64 {
        if self.nanos {
            round(time as f64 / 1e6)
        } else {
            time as f64
        }
    }

    /// An event-log time, or `None` without the workload's start.
    fn event_log(&self, ns: u64) -> Option<f64> {
        let start = self.workload_start_ns?;
        Some(round((ns as f64 - start as f64) / 1e6))
    }
}

/// Three decimals: microseconds on a millisecond axis, and a shorter page.
fn round(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e3
}

/// The time of a history line, for the completions the checker's history
/// keeps no time of (an `info`'s: for the search it is open-ended, but
/// the client gave up at a moment the page shows).
struct LineTimes<'a> {
    lines: Vec<&'a str>,
    nanos: bool,
}

impl<'a> LineTimes<'a> {
    fn new(text: &'a str, nanos: bool) -> Self {
        // Only our JSONL needs its lines; Jepsen's times are line numbers.
        let lines = if nanos {
            text.lines().collect()
        } else {
            Vec::new()
        };
        LineTimes { lines, nanos }
    }

    fn time(&self, line: u64) -> Option<u64> {
        if !self.nanos {
            return Some(line);
        }
        let text = self
            .lines
            .get(usize::try_from(line).ok()?.checked_sub(1)?)?;
        let event: serde_json::Value = serde_json::from_str(text).ok()?;
        event.get("time_ns")?.as_u64()
    }
}

fn history_end(history: &History, line_times: &LineTimes<'_>) -> u64 {
    history
        .ops()
        .iter()
        .map(|op| {
            op.ret
                .or_else(|| op.complete_line.and_then(|l| line_times.time(l)))
                .unwrap_or(op.call)
        })
        .max()
        .unwrap_or(0)
}

fn drawn_op(op: &Operation, axis: &Axis, line_times: &LineTimes<'_>, history_end: u64) -> DrawnOp {
    let (outcome, end, result) = match &op.outcome {
        Outcome::Ok(value) => ("ok", op.ret, ok_result(op, value)),
        Outcome::Fail(_) => {
            let why = op.error.as_deref().map_or(String::new(), |e| format!(": {e}"));
            ("fail", op.ret, clip(&format!("fail{why}")))
        }
        Outcome::Info => (
            "info",
            op.complete_line.and_then(|l| line_times.time(l)),
            "info: indeterminate, it may take effect at any time after its invocation, or never"
                .into(),
        ),
        Outcome::Pending => (
            "pending",
            None,
            "no reply: indeterminate, it may take effect at any time after its invocation, or never"
                .into(),
        ),
    };
    let end = end.unwrap_or(history_end).max(op.call);
    DrawnOp {
        lane: 0,
        process: op.process,
        from: axis.history(op.call),
        to: axis.history(end),
        outcome,
        f: op.f.to_string(),
        key: op.key.clone(),
        arg: match op.value {
            Value::Nil => String::new(),
            ref value => clip(&value.to_string()),
        },
        result,
        line: op.invoke_line,
        call: op.call,
        core: None,
    }
}

/// A read shows what it read; a write its answer only when it says more
/// than the invocation did (a version).
fn ok_result(op: &Operation, value: &Value) -> String {
    let read = matches!(op.f, twinnet_check::Func::Read | twinnet_check::Func::Get);
    if read || (*value != Value::Nil && *value != op.value) {
        clip(&format!("ok -> {value}"))
    } else {
        "ok".into()
    }
}

/// `text`, cut to [`MAX_VALUE_CHARS`] with how long it was.
fn clip(text: &str) -> String {
    let chars = text.chars().count();
    if chars <= MAX_VALUE_CHARS {
        return text.to_string();
    }
    let kept: String = text.chars().take(MAX_VALUE_CHARS).collect();
    format!("{kept}... ({chars} chars)")
}

/// Puts processes that never overlap in time on one lane, in order of
/// their first invocation, each on the lane freed last before it starts:
/// a client's successive processes share its lane.
fn pack_lanes(ops: &mut [DrawnOp]) -> Vec<ClientLane> {
    // Each process's first invocation and last end (ops of one process
    // never overlap, so that span is its whole life).
    let mut life: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for op in ops.iter() {
        let entry = life.entry(op.process).or_insert((op.from, op.to));
        entry.0 = entry.0.min(op.from);
        entry.1 = entry.1.max(op.to);
    }
    let mut order: Vec<(u64, f64, f64)> = life.into_iter().map(|(p, (a, b))| (p, a, b)).collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut lanes: Vec<ClientLane> = Vec::new();
    let mut lane_ends: Vec<f64> = Vec::new();
    let mut lane_of: BTreeMap<u64, usize> = BTreeMap::new();
    for (process, first, last) in order {
        // The lane freed last before it: a retired process's successor
        // starts right after it gave up, so it lands on its own client's.
        let free = (0..lane_ends.len())
            .filter(|&lane| lane_ends[lane] < first)
            .max_by(|&a, &b| lane_ends[a].total_cmp(&lane_ends[b]));
        let lane = match free {
            Some(lane) => lane,
            None if lanes.len() < MAX_CLIENT_LANES => {
                lanes.push(ClientLane {
                    label: String::new(),
                    processes: Vec::new(),
                    more_processes: 0,
                });
                lane_ends.push(f64::NEG_INFINITY);
                lanes.len() - 1
            }
            // Past the cap: not drawn (counted with the ops left out).
            None => usize::MAX,
        };
        if lane != usize::MAX {
            lane_ends[lane] = last;
            let listed = &mut lanes[lane];
            if listed.processes.len() < MAX_LANE_PROCESSES_LISTED {
                listed.processes.push(process);
            } else {
                listed.more_processes += 1;
            }
        }
        lane_of.insert(process, lane);
    }
    for op in ops.iter_mut() {
        op.lane = lane_of.get(&op.process).copied().unwrap_or(usize::MAX);
    }
    for (index, lane) in lanes.iter_mut().enumerate() {
        lane.label = format!("client {}", index + 1);
    }
    lanes
}

/// The artifact's `config.timeline`, if it has one (artifacts written
/// before timelines have none: no roles, faults placed by `at_ms`).
fn read_record(artifact: &Artifact, notes: &mut Vec<String>) -> Option<TimelineRecord> {
    let value = artifact.config.get("timeline")?;
    match serde_json::from_value(value.clone()) {
        Ok(record) => Some(record),
        Err(err) => {
            notes.push(format!(
                "the artifact's timeline record is unreadable ({err}): no roles drawn"
            ));
            None
        }
    }
}

fn read_faults(
    artifact: &Artifact,
    axis: &Axis,
    notes: &mut Vec<String>,
) -> (Vec<FaultSpan>, Vec<LostWrites>) {
    let Some(value) = artifact.config.get("faults").filter(|v| !v.is_null()) else {
        return Default::default();
    };
    match serde_json::from_value::<Vec<AppliedFault>>(value.clone()) {
        Ok(applied) => faults::spans(&applied, |step| {
            // Without the workload's start on the log's clock, the time
            // after the nemesis started: the two start together.
            axis.event_log(step.time_ns).unwrap_or(step.at_ms as f64)
        }),
        Err(err) => {
            notes.push(format!(
                "the artifact's faults are unreadable ({err}): no nemesis drawn"
            ));
            Default::default()
        }
    }
}

fn node_lanes(
    artifact: Option<&Artifact>,
    record: Option<&TimelineRecord>,
    axis: &Axis,
    notes: &mut Vec<String>,
) -> Vec<NodeLane> {
    let Some(artifact) = artifact else {
        return Vec::new();
    };
    let count = artifact
        .config
        .pointer("/run/nodes")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let mut lanes: BTreeMap<NodeId, NodeLane> = (0..count.min(crate::sweep::MAX_NODES as u64))
        .map(|id| {
            (
                id,
                NodeLane {
                    id,
                    spans: Vec::new(),
                },
            )
        })
        .collect();
    let Some(record) = record else {
        if count > 0 {
            notes.push(
                "this artifact has no role samples (written before timelines): node lanes are empty"
                    .into(),
            );
        }
        return lanes.into_values().collect();
    };
    role_spans(&record.roles, axis, &mut lanes);
    if record.roles.dropped > 0 {
        notes.push(format!(
            "{} role changes after the first {} were not recorded",
            record.roles.dropped,
            record.roles.changes.len()
        ));
    }
    lanes.into_values().collect()
}

fn role_spans(log: &RoleLog, axis: &Axis, lanes: &mut BTreeMap<NodeId, NodeLane>) {
    let until = log.last_sample_ns.and_then(|ns| axis.event_log(ns));
    let mut by_node: BTreeMap<NodeId, Vec<_>> = BTreeMap::new();
    for change in &log.changes {
        by_node.entry(change.node).or_default().push(change);
    }
    for (node, changes) in by_node {
        if lanes.len() >= crate::sweep::MAX_NODES && !lanes.contains_key(&node) {
            continue;
        }
        let lane = lanes.entry(node).or_insert_with(|| NodeLane {
            id: node,
            spans: Vec::new(),
        });
        for (index, change) in changes.iter().enumerate() {
            let Some(from) = axis.event_log(change.at_ns) else {
                continue;
            };
            let to = changes
                .get(index + 1)
                .and_then(|next| axis.event_log(next.at_ns))
                .or(until)
                .unwrap_or(from);
            lane.spans.push(RoleSpan {
                from,
                to: to.max(from),
                role: change.role.name(),
                term: change.role.term(),
            });
        }
    }
}

/// The violating core: the record's when the run checked the history,
/// else the checker's answer now.
fn find_core(
    sources: &Sources<'_>,
    history: &History,
    record: Option<&TimelineRecord>,
    notes: &mut Vec<String>,
) -> Option<ViolationCore> {
    if let Some(record) = record.filter(|r| r.checked) {
        return record.violation.clone();
    }
    let model = sources
        .model
        .or_else(|| {
            let name = sources.artifact?.config.pointer("/run/workload/model")?;
            name.as_str()?.parse().ok()
        })
        .unwrap_or_else(|| guess_model(history));
    let kind = match model {
        Model::RegisterCas => twinnet_check::ModelKind::RegisterCas,
        Model::KvAppend => twinnet_check::ModelKind::KvAppend,
        Model::VersionedCas => twinnet_check::ModelKind::VersionedCas,
        Model::Custom => {
            notes.push(
                "not checked here: the history is of the app's own model (its sweep checks it)"
                    .into(),
            );
            return None;
        }
    };
    match twinnet_check::check(history, kind) {
        Ok(report) => {
            if report.verdict == twinnet_check::Verdict::Unknown {
                notes.push(format!(
                    "the {model} check ran out of budget: no verdict, nothing highlighted"
                ));
            }
            report.violation.as_ref().map(ViolationCore::from_violation)
        }
        Err(err) => {
            notes.push(format!(
                "not checked: the history does not fit the {model} model ({err})"
            ));
            None
        }
    }
}

/// The built-in model whose operations the history uses.
fn guess_model(history: &History) -> Model {
    use twinnet_check::Func;
    let ops = history.ops();
    if ops
        .iter()
        .any(|op| matches!(op.f, Func::Get | Func::Put | Func::Append))
    {
        return Model::KvAppend;
    }
    let versioned = ops
        .iter()
        .any(|op| matches!(&op.outcome, Outcome::Ok(v) if v.get("version").is_some()));
    if versioned {
        Model::VersionedCas
    } else {
        Model::RegisterCas
    }
}

fn mark_core(ops: &mut [DrawnOp], core: Option<&ViolationCore>) {
    let Some(core) = core else { return };
    // A process has one operation outstanding at a time: its process and
    // invocation time name an operation in any copy of the history.
    let positions: BTreeMap<(u64, u64), usize> = core
        .ops
        .iter()
        .enumerate()
        .map(|(index, op)| ((op.process, op.call), index + 1))
        .collect();
    for op in ops.iter_mut() {
        op.core = positions.get(&(op.process, op.call)).copied();
    }
}

/// Draws every op when they fit; otherwise the core and the ops nearest
/// to it in time (or the earliest), as many as the caps allow, and notes
/// how many were left out.
fn choose_ops(page: &mut PageData, all_ops: Vec<DrawnOp>, core: Option<&ViolationCore>) {
    let total = all_ops.len();
    let focus = core_span(&all_ops);
    let mut ranked: Vec<usize> = (0..total)
        .filter(|&i| all_ops[i].lane != usize::MAX)
        .collect();
    let distance = |op: &DrawnOp| match focus {
        Some((from, to)) => (from - op.to).max(op.from - to).max(0.0),
        None => op.from,
    };
    ranked.sort_by(|&a, &b| {
        let (a, b) = (&all_ops[a], &all_ops[b]);
        b.core
            .is_some()
            .cmp(&a.core.is_some())
            .then(distance(a).total_cmp(&distance(b)))
    });
    let mut cap = MAX_OPS_DRAWN;
    loop {
        let mut chosen: Vec<usize> = ranked.iter().copied().take(cap).collect();
        chosen.sort_unstable();
        page.ops = chosen.iter().map(|&i| all_ops[i].clone()).collect();
        let bytes = serde_json::to_vec(&*page).map_or(0, |v| v.len());
        if bytes <= MAX_DATA_BYTES || cap <= 1 {
            break;
        }
        cap /= 2;
    }
    page.core = core.map(|core| {
        let ops: Vec<usize> = page
            .ops
            .iter()
            .enumerate()
            .filter(|(_, op)| op.core.is_some())
            .map(|(index, _)| index)
            .collect();
        CoreView {
            key: core.key.clone(),
            reason: core.reason.clone(),
            missing: core.ops.len().saturating_sub(ops.len()),
            ops,
        }
    });
    if let Some(core) = core
        && core.ops_cut > 0
    {
        page.notes.push(format!(
            "the violating core has {} more operation(s) than its record keeps (the checker's \
             report lists them all)",
            core.ops_cut
        ));
    }
    if let Some(core) = &page.core
        && core.missing > 0
    {
        page.notes.push(format!(
            "{} operation(s) of the violating core are not in this history",
            core.missing
        ));
    }
    let left_out = total - page.ops.len();
    if left_out > 0 {
        let which = if focus.is_some() {
            "those nearest the violation in time are"
        } else {
            "the earliest are"
        };
        page.notes.insert(
            0,
            format!(
                "{left_out} of {total} ops not drawn: at most {} are drawn here ({which}); \
                 the history file has them all",
                page.ops.len()
            ),
        );
    }
}

fn core_span(ops: &[DrawnOp]) -> Option<(f64, f64)> {
    let core = ops.iter().filter(|op| op.core.is_some());
    let from = core.clone().map(|op| op.from).min_by(f64::total_cmp)?;
    let to = core.map(|op| op.to).max_by(f64::total_cmp)?;
    Some((from, to))
}

/// The axis spans everything drawn.
fn set_span(page: &mut PageData) {
    let times = page
        .ops
        .iter()
        .flat_map(|op| [op.from, op.to])
        .chain(
            page.faults
                .iter()
                .flat_map(|f| [Some(f.from), f.to])
                .flatten(),
        )
        .chain(
            page.nodes
                .iter()
                .flat_map(|n| n.spans.iter().flat_map(|s| [s.from, s.to])),
        );
    let (mut start, mut end) = (0.0_f64, 0.0_f64);
    for time in times {
        start = start.min(time);
        end = end.max(time);
    }
    page.start = start;
    page.end = if end > start { end } else { start + 1.0 };
}

fn title(sources: &Sources<'_>) -> String {
    match sources.artifact {
        Some(artifact) => format!("{} seed {}", artifact.name, artifact.seed),
        None => sources.history_name.to_string(),
    }
}

/// The app, its planted bugs, the cluster and the workload, from the
/// artifact's run config.
fn subtitle(artifact: &Artifact) -> String {
    let run = artifact.config.get("run");
    let text = |pointer: &str| {
        run.and_then(|r| r.pointer(pointer))
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| "?".into())
    };
    let mut parts = vec![format!("app {}", text("/app_name"))];
    let bugs = planted_bugs(run.and_then(|r| r.get("app")));
    if !bugs.is_empty() {
        parts.push(format!("planted bug {}", bugs.join(", ")));
    }
    parts.push(format!("{} nodes", text("/nodes")));
    parts.push(format!(
        "{} ops of {} by {} clients",
        text("/workload/ops"),
        text("/workload/model"),
        text("/workload/clients")
    ));
    parts.push(format!("nemesis {}", text("/nemesis")));
    parts.push(format!(
        "{:.1} simulated s",
        artifact.simulated_duration_ms as f64 / 1e3
    ));
    parts.join(" \u{b7} ")
}

/// The names of an app config's switches that are on (a KV app's
/// `bugs.stale_read: true` is `stale-read`): how its planted bugs show.
fn planted_bugs(app: Option<&serde_json::Value>) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack: Vec<(&str, &serde_json::Value)> = app.map(|a| ("", a)).into_iter().collect();
    // Bounded: an app config is small, and each value is visited once.
    while let Some((name, value)) = stack.pop() {
        match value {
            serde_json::Value::Bool(true) if !name.is_empty() => {
                found.push(name.replace('_', "-"));
            }
            serde_json::Value::Object(map) => {
                stack.extend(map.iter().map(|(k, v)| (k.as_str(), v)));
            }
            _ => {}
        }
        if found.len() >= 16 {
            break;
        }
    }
    found.sort();
    found
}

/// The checks that failed: the record's list, else the artifact's one
/// line (an artifact from before timelines), each cut to a readable size.
fn failures(artifact: &Artifact, record: Option<&TimelineRecord>) -> Vec<String> {
    let listed = record.map(|r| r.failures.clone()).unwrap_or_default();
    let all = if listed.is_empty() {
        artifact.failure.iter().cloned().collect()
    } else {
        listed
    };
    all.into_iter()
        .take(MAX_FAILURES)
        .map(|failure| {
            let chars = failure.chars().count();
            if chars <= MAX_FAILURE_CHARS {
                failure
            } else {
                let kept: String = failure.chars().take(MAX_FAILURE_CHARS).collect();
                format!(
                    "{kept}\n... ({} more chars in the artifact)",
                    chars - MAX_FAILURE_CHARS
                )
            }
        })
        .collect()
}
