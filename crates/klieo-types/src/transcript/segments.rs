//! A transcript's list of segments: up to two held in place, more shared.

use super::Segment;
use std::sync::Arc;

/// A transcript's segments. Up to two are held in place, so a request's
/// system prompt and a history within one block take no allocation; more
/// are shared by the transcript's clones, so a request cloned for each
/// attempt of a model call copies no list.
#[derive(Clone, Default)]
pub(super) enum Segments {
    /// No segment: an empty transcript.
    #[default]
    Empty,
    One(Segment),
    Two([Segment; 2]),
    /// Three or more.
    Shared(Arc<[Segment]>),
}

/// The segments an iterator yields, in order: in place when they are one
/// or two; in one shared list when an iterator of known length (a slice's,
/// chained, mapped) yields more.
impl FromIterator<Segment> for Segments {
    fn from_iter<I: IntoIterator<Item = Segment>>(all: I) -> Self {
        let mut all = all.into_iter();
        let Some(first) = all.next() else {
            return Self::Empty;
        };
        let Some(second) = all.next() else {
            return Self::One(first);
        };
        match all.next() {
            None => Self::Two([first, second]),
            Some(third) => Self::Shared([first, second, third].into_iter().chain(all).collect()),
        }
    }
}

impl Segments {
    pub(super) fn as_slice(&self) -> &[Segment] {
        match self {
            Self::Empty => &[],
            Self::One(one) => std::slice::from_ref(one),
            Self::Two(two) => two,
            Self::Shared(all) => all,
        }
    }

    /// The last segment, when this transcript alone holds it.
    pub(super) fn last_mut(&mut self) -> Option<&mut Segment> {
        match self {
            Self::Empty => None,
            Self::One(last) | Self::Two([_, last]) => Some(last),
            Self::Shared(all) => Arc::get_mut(all).and_then(|all| all.last_mut()),
        }
    }
}
