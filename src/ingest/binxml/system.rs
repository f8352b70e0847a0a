//! `System` read without the element walk.
//!
//! Every record's `System` element is evaluated, wanted or not, and the walk spent about 2,800
//! instructions a record on it: an operation dispatch, a frame pushed and popped and a context
//! worked out per element. Its shape is fixed per template, so it is checked once when the
//! template compiles and turned into a short list of [`Step`]s that act on the builder through
//! the same functions the walk calls, in the walk's order. The builder ends in the state the
//! walk leaves it in when it pauses after `System`.
//!
//! A template whose `System` has any other shape (text between elements, an attribute with
//! two values, an unknown child the walk would not skip) gets no plan; a record with a nested
//! fragment inside `System` (which the walk defers) is given back to the walk.

use super::{is_empty, literal_attribute_at, Builder, Ctx, Frame, Known, Op, Res, Skip, Value};
use std::rc::Rc;

/// The steps for one template's `System`.
#[derive(Debug)]
pub(super) struct Plan {
    /// The name of the `Event` element, for the frame left open.
    event_name: Rc<str>,
    steps: Vec<Step>,
    /// The operation after the end of `System`, where the walk resumes.
    resume: usize,
}

/// Where a value comes from.
#[derive(Debug)]
enum Src {
    Text(Rc<str>),
    /// Substitution index, optional.
    Sub(u16, bool),
}

#[derive(Debug)]
enum Step {
    /// The substitution of an attribute of `Event`: its only possible effect is a nested
    /// fragment, and such a record goes back to the walk.
    Nested(u16),
    /// An element the walk skips (see [`super::Template::skips`]), with its substitutions:
    /// one that is a nested fragment sends the record back to the walk.
    Skipped(Vec<u16>),
    /// An element of `System` opens.
    Open,
    /// An attribute of an element of `System`.
    Attr(Ctx, Known, Src),
    /// A text-capturing element closes, with its content (at most one text or substitution).
    Content(Ctx, Option<Src>),
}

impl Plan {
    /// The plan for a template's operations, if its `System` has the usual shape:
    /// `<Event attr="text"...><System>` then children that are either skipped (see
    /// [`super::Template::skips`]) or a known element with single-valued attributes and at
    /// most one content item, then `</System>`.
    pub(super) fn new(ops: &[Op], skips: &[Option<Skip>]) -> Option<Plan> {
        let Some(Op::Open(event_name, Known::Event)) = ops.first() else {
            return None;
        };
        let mut steps = Vec::new();
        let mut i = 1;
        // Attributes of `Event` act on nothing.
        loop {
            match (ops.get(i)?, ops.get(i + 1)) {
                (Op::Attr(_), Some(Op::Text(_))) => i += 2,
                (Op::Attr(_), Some(Op::Sub(k, _))) => {
                    steps.push(Step::Nested(*k));
                    i += 2;
                }
                (Op::CloseStart, _) => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
        let (Op::Open(_, Known::System), Some(Op::CloseStart)) = (ops.get(i)?, ops.get(i + 1))
        else {
            return None;
        };
        i += 2;
        loop {
            match ops.get(i)? {
                Op::End => {
                    return Some(Plan {
                        event_name: Rc::clone(event_name),
                        steps,
                        resume: i + 1,
                    })
                }
                Op::Open(_, kind) => {
                    if let Some(Some(skip)) = skips.get(i) {
                        steps.push(Step::Skipped(skip.subs.clone()));
                        i = skip.end;
                    } else {
                        i = child(ops, i + 1, Ctx::System.child(2, *kind), &mut steps)?;
                    }
                }
                _ => return None,
            }
        }
    }

    /// Evaluate `System` into the builder, as the walk does up to its pause. `Ok(None)`: a
    /// nested fragment is in `System`; the caller resets the builder and walks instead.
    pub(super) fn run(&self, values: &[Value<'_>], b: &mut Builder) -> Res<Option<usize>> {
        let value = |k: u16| values.get(usize::from(k)).copied().unwrap_or(Value::Null);
        let nested = |v: &Value<'_>| matches!(v, Value::BinXml(bytes, _) if !bytes.is_empty());
        for step in &self.steps {
            match step {
                Step::Nested(k) => {
                    if nested(&value(*k)) {
                        return Ok(None);
                    }
                }
                Step::Skipped(subs) => {
                    if subs.iter().any(|&k| nested(&value(k))) {
                        return Ok(None);
                    }
                    b.text.clear();
                }
                Step::Open => b.text.clear(),
                Step::Attr(ctx, attr, Src::Text(t)) => literal_attribute_at(b, *ctx, *attr, t),
                Step::Attr(ctx, attr, Src::Sub(k, optional)) => {
                    let v = value(*k);
                    if *optional && is_empty(&v) {
                        continue;
                    }
                    match v {
                        Value::BinXml(..) if nested(&v) => return Ok(None),
                        Value::BinXml(..) => {}
                        _ => b.attribute_at(*ctx, *attr, &v)?,
                    }
                }
                Step::Content(ctx, src) => {
                    if !content(b, *ctx, src.as_ref(), &value)? {
                        return Ok(None);
                    }
                }
            }
        }
        b.frames.clear();
        b.frames.push(Frame {
            ctx: Ctx::Event,
            name: Rc::clone(&self.event_name),
            has_child: true,
            had_content: false,
            optional_empty: false,
        });
        b.attr = None;
        b.data_name = None;
        b.pause_after_system = false;
        Ok(Some(self.resume))
    }
}

/// The steps of a known child of `System` whose operations start at `i` (after its `Open`);
/// where its operations end.
fn child(ops: &[Op], mut i: usize, ctx: Ctx, steps: &mut Vec<Step>) -> Option<usize> {
    let captures = ctx.captures();
    if !captures && !matches!(ctx, Ctx::Provider | Ctx::TimeCreated) {
        return None;
    }
    steps.push(Step::Open);
    let content = loop {
        match ops.get(i)? {
            Op::Attr(attr) => {
                let src = match ops.get(i + 1)? {
                    Op::Text(t) => Src::Text(Rc::clone(t)),
                    Op::Sub(k, optional) => Src::Sub(*k, *optional),
                    _ => return None,
                };
                steps.push(Step::Attr(ctx, *attr, src));
                i += 2;
            }
            Op::CloseEmpty => {
                i += 1;
                break None;
            }
            Op::CloseStart => match (ops.get(i + 1)?, ops.get(i + 2)) {
                (Op::End, _) => {
                    i += 2;
                    break None;
                }
                (Op::Text(t), Some(Op::End)) => {
                    i += 3;
                    break Some(Src::Text(Rc::clone(t)));
                }
                (Op::Sub(k, optional), Some(Op::End)) => {
                    i += 3;
                    break Some(Src::Sub(*k, *optional));
                }
                _ => return None,
            },
            _ => return None,
        }
    };
    match (captures, content) {
        (true, content) => steps.push(Step::Content(ctx, content)),
        (false, None) => {}
        // Content in `Provider` or `TimeCreated`: unusual, left to the walk.
        (false, Some(_)) => return None,
    }
    Some(i)
}

/// A text-capturing element's content and close, as the walk does them (`Builder::value`,
/// `Builder::close`); `false` when the content is a nested fragment.
fn content<'a>(
    b: &mut Builder,
    ctx: Ctx,
    src: Option<&Src>,
    value: &impl Fn(u16) -> Value<'a>,
) -> Res<bool> {
    let mut had_content = false;
    let mut optional_empty = false;
    match src {
        None => {}
        Some(Src::Text(t)) => {
            had_content = true;
            b.text.push_str(t);
        }
        Some(Src::Sub(k, optional)) => {
            let v = value(*k);
            if *optional && is_empty(&v) {
                optional_empty = true;
            } else {
                match v {
                    Value::BinXml(bytes, _) if !bytes.is_empty() => return Ok(false),
                    Value::BinXml(..) => {}
                    _ => {
                        had_content = true;
                        b.content_value(ctx, &v)?;
                    }
                }
            }
        }
    }
    if optional_empty && !had_content {
        b.data_name = None;
        b.text.clear();
    } else {
        b.close_captured(ctx);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::super::{eval, Template};
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn open(name: &str, kind: Known) -> Op {
        Op::Open(Rc::from(name), kind)
    }

    /// A usual System, with a skipped element, a literal, optional values and attributes.
    fn template() -> Template {
        let text = |t: &str| Op::Text(Rc::from(t));
        Template::new(vec![
            open("Event", Known::Event),
            Op::Attr(Known::Other),
            text("http://schemas.microsoft.com/win/2004/08/events/event"),
            Op::CloseStart,
            open("System", Known::System),
            Op::CloseStart,
            open("Provider", Known::Provider),
            Op::Attr(Known::NameAttr),
            Op::Sub(0, false),
            Op::Attr(Known::GuidAttr),
            Op::Sub(1, false),
            Op::CloseEmpty,
            open("EventID", Known::EventId),
            Op::Attr(Known::Other),
            Op::Sub(2, true),
            Op::CloseStart,
            Op::Sub(3, false),
            Op::End,
            open("Version", Known::Version),
            Op::CloseStart,
            Op::Sub(4, true),
            Op::End,
            open("Level", Known::Other),
            Op::CloseStart,
            Op::Sub(5, false),
            Op::End,
            open("TimeCreated", Known::TimeCreated),
            Op::Attr(Known::SystemTimeAttr),
            Op::Sub(6, false),
            Op::CloseEmpty,
            open("EventRecordID", Known::EventRecordId),
            Op::CloseStart,
            Op::Sub(7, false),
            Op::End,
            open("Channel", Known::Channel),
            Op::CloseStart,
            Op::Sub(8, true),
            Op::End,
            open("Computer", Known::Computer),
            Op::CloseStart,
            text("literal-host"),
            Op::End,
            open("Security", Known::Other),
            Op::CloseEmpty,
            Op::End,
            Op::Sub(9, false),
            Op::End,
        ])
    }

    /// What evaluation up to the pause leaves: result, record, open frames, text, deferred.
    type Outcome = (Res<Option<usize>>, RawRecordView, usize, String, usize);
    type RawRecordView = String;

    fn walked(t: &Template, values: &[Value<'_>]) -> Outcome {
        let mut b = Builder::default();
        b.reset();
        b.pause_after_system = true;
        let mut deferred = Vec::new();
        let r = eval(t, values, &mut b, &mut deferred, 0, true);
        // After an error the record goes to the renderer: the builder's state no longer matters.
        let frames = if r.is_ok() { b.frames.len() } else { 0 };
        let text = if r.is_ok() {
            b.text.clone()
        } else {
            String::new()
        };
        (r, format!("{:?}", b.finish()), frames, text, deferred.len())
    }

    fn planned(t: &Template, values: &[Value<'_>]) -> Option<Outcome> {
        let plan = t.system.as_ref()?;
        let mut b = Builder::default();
        b.reset();
        b.pause_after_system = true;
        let r = plan.run(values, &mut b);
        if matches!(r, Ok(None)) {
            return None;
        }
        // After an error the record goes to the renderer: the builder's state no longer matters.
        let frames = if r.is_ok() { b.frames.len() } else { 0 };
        let text = if r.is_ok() {
            b.text.clone()
        } else {
            String::new()
        };
        let top = b.frames.last().map(|f| (f.ctx, f.has_child));
        assert!(r.is_err() || top == Some((Ctx::Event, true)));
        Some((r, format!("{:?}", b.finish()), frames, text, 0))
    }

    #[test]
    fn the_plan_leaves_what_the_walk_leaves() {
        let t = template();
        assert!(t.system.is_some());
        let (provider, channel, id_text) = (utf16("Prov"), utf16("Chan\0"), utf16(" 4688 "));
        let (fragment, guid) = ([0x0fu8, 1, 1, 0], [7u8; 16]);
        let sid: [u8; 3] = [1, 5, 0];
        let normal = vec![
            Value::Str(&provider),
            Value::Guid(&guid),
            Value::Null,
            Value::Unsigned(1),
            Value::Unsigned(5),
            Value::Unsigned(4),
            Value::FileTime(132_636_029_653_896_334),
            Value::Unsigned(42),
            Value::Str(&channel),
            Value::BinXml(&fragment, 0),
        ];
        let mut cases = vec![normal.clone()];
        let variants: Vec<(usize, Value<'_>)> = vec![
            (0, Value::Null),
            (0, Value::BinXml(&[], 0)),
            (0, Value::Sid(&sid)),
            (1, Value::Str(&provider)),
            (1, Value::Null),
            (2, Value::Unsigned(7)),
            (3, Value::Str(&id_text)),
            (3, Value::Unsigned(u64::MAX)),
            (3, Value::Null),
            (3, Value::BinXml(&[], 0)),
            (4, Value::Null),
            (4, Value::Str(&[])),
            (4, Value::Unsigned(300)),
            (5, Value::Other),
            (6, Value::Unsigned(1)),
            (6, Value::FileTime(u64::MAX)),
            (7, Value::Signed(-1)),
            (8, Value::Null),
            (8, Value::Str(&[])),
            (8, Value::Unsigned(9)),
            (8, Value::Other),
        ];
        for (at, v) in variants {
            let mut c = normal.clone();
            c[at] = v;
            cases.push(c);
        }
        for values in &cases {
            let plan = planned(&t, values);
            assert_eq!(plan, Some(walked(&t, values)), "{values:?}");
        }
        // A nested fragment in System goes back to the walk.
        for at in [2, 5] {
            let mut c = normal.clone();
            c[at] = Value::BinXml(&fragment, 0);
            assert_eq!(planned(&t, &c), None);
        }
    }

    #[test]
    fn unusual_shapes_get_no_plan() {
        let ops = template().ops;
        // Text between the children of System.
        let mut with_text = ops.clone();
        with_text.insert(6, Op::Text(Rc::from(" ")));
        // Two values for one attribute.
        let mut two_values = ops.clone();
        two_values.insert(9, Op::Text(Rc::from("x")));
        // Content in Provider.
        let mut content = ops.clone();
        content[11] = Op::CloseStart;
        content.insert(12, Op::End);
        content.insert(12, Op::Sub(0, false));
        for ops in [with_text, two_values, content, ops[1..].to_vec()] {
            assert!(Template::new(ops).system.is_none());
        }
    }
}
