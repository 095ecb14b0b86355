//! Where room memberships live: the [`RoomsAdapter`] seam and the in-memory default.

use super::RoomsError;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// Storage of room memberships, by spark id and room name.
///
/// The plugin calls it for every join, leave and broadcast; [`MemoryAdapter`] is the
/// default. A cluster adapter (Redis, …) implements the same trait later.
///
/// # Why the methods are synchronous
///
/// A spark lives on exactly one server process, and a room broadcast can only queue
/// frames on the sparks of this process. So the membership a node needs to *deliver*
/// is always its own sparks', and a cluster adapter keeps that part in local memory
/// (answered synchronously, like [`MemoryAdapter`]) while it mirrors changes to the
/// shared store and fans broadcasts out to the other nodes in the background (a spawned
/// task publishing on a channel; the other nodes then deliver to *their* local members
/// through this same trait). Keeping the trait sync keeps `spark.join(..)` and
/// `room(..).write(..)` sync like `Spark::write`, with no boxed future per call on the
/// hot path. Cluster-wide *queries* (every member on every node) are inherently async and
/// belong on the cluster adapter's own API, not on this seam.
///
/// Implementations must be internally synchronised (the plugin calls them from any
/// thread) and should remove empty rooms, so memory follows the live memberships.
pub trait RoomsAdapter: Send + Sync + 'static {
    /// Put `spark_id` in `rooms` (already validated, without duplicates). All or
    /// nothing: when the spark would then be in more than `max_rooms` rooms, nothing
    /// changes and the answer is [`RoomsError::TooManyRooms`]. Returns the rooms the
    /// spark was not in before (in the order given).
    fn add(
        &self,
        spark_id: &str,
        rooms: &[String],
        max_rooms: usize,
    ) -> Result<Vec<String>, RoomsError>;

    /// Take `spark_id` out of `room`; whether it was in it.
    fn del(&self, spark_id: &str, room: &str) -> bool;

    /// Take `spark_id` out of every room; returns the rooms it left (join order).
    fn del_all(&self, spark_id: &str) -> Vec<String>;

    /// The rooms of `spark_id`, in the order it joined them.
    fn rooms_of(&self, spark_id: &str) -> Vec<String>;

    /// The ids of the members of `room` (no particular order).
    fn members(&self, room: &str) -> Vec<String>;

    /// Every room with at least one member, sorted by name.
    fn rooms(&self) -> Vec<String>;

    /// The broadcast selection: the ids that are in at least one of `rooms`, each once,
    /// leaving out the ids in `except`. With `wildcards`, a room whose name holds `*` is
    /// also a pattern (`*`: any characters, the whole name must match), and a broadcast
    /// to room `R` also reaches the members of every pattern room matching `R` (see
    /// [`glob_match`]).
    fn members_of_any(&self, rooms: &[String], except: &[String], wildcards: bool) -> Vec<String>;
}

/// The default adapter: two maps (room → members, spark → rooms) under one lock.
/// A room is removed when its last member leaves, a spark's entry when it leaves its
/// last room, so memory follows the live memberships only.
#[derive(Default)]
pub struct MemoryAdapter {
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    /// Room → member ids.
    rooms: HashMap<Arc<str>, HashSet<Arc<str>>>,
    /// Spark id → (room → join sequence number, for join-order listings).
    sparks: HashMap<Arc<str>, HashMap<Arc<str>, u64>>,
    /// The rooms whose name holds a `*` (the wildcard patterns).
    patterns: HashSet<Arc<str>>,
    seq: u64,
}

impl MemoryAdapter {
    /// An empty adapter.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for MemoryAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.read();
        f.debug_struct("MemoryAdapter")
            .field("rooms", &state.rooms.len())
            .field("sparks", &state.sparks.len())
            .finish()
    }
}

impl RoomsAdapter for MemoryAdapter {
    fn add(
        &self,
        spark_id: &str,
        rooms: &[String],
        max_rooms: usize,
    ) -> Result<Vec<String>, RoomsError> {
        let mut guard = self.write();
        let state = &mut *guard;
        let current = state.sparks.get(spark_id);
        let have = current.map_or(0, |m| m.len());
        let new: Vec<&String> = rooms
            .iter()
            .filter(|r| current.is_none_or(|m| !m.contains_key(r.as_str())))
            .collect();
        if new.is_empty() {
            return Ok(Vec::new());
        }
        if have + new.len() > max_rooms {
            return Err(RoomsError::TooManyRooms { limit: max_rooms });
        }
        // Share the id (and room names) between both maps.
        let id: Arc<str> = match state.sparks.get_key_value(spark_id) {
            Some((k, _)) => k.clone(),
            None => Arc::from(spark_id),
        };
        let mut joined = Vec::with_capacity(new.len());
        for room in new {
            let name: Arc<str> = match state.rooms.get_key_value(room.as_str()) {
                Some((k, _)) => k.clone(),
                None => {
                    let name: Arc<str> = Arc::from(room.as_str());
                    if name.contains('*') {
                        state.patterns.insert(name.clone());
                    }
                    name
                }
            };
            state
                .rooms
                .entry(name.clone())
                .or_default()
                .insert(id.clone());
            state.seq += 1;
            state
                .sparks
                .entry(id.clone())
                .or_default()
                .insert(name, state.seq);
            joined.push(room.clone());
        }
        Ok(joined)
    }

    fn del(&self, spark_id: &str, room: &str) -> bool {
        let mut guard = self.write();
        let state = &mut *guard;
        let Some(mine) = state.sparks.get_mut(spark_id) else {
            return false;
        };
        if mine.remove(room).is_none() {
            return false;
        }
        if mine.is_empty() {
            state.sparks.remove(spark_id);
        }
        if let Some(members) = state.rooms.get_mut(room) {
            members.remove(spark_id);
            if members.is_empty() {
                state.rooms.remove(room);
                state.patterns.remove(room);
            }
        }
        true
    }

    fn del_all(&self, spark_id: &str) -> Vec<String> {
        let mut guard = self.write();
        let state = &mut *guard;
        let Some(mine) = state.sparks.remove(spark_id) else {
            return Vec::new();
        };
        let mut left: Vec<(u64, Arc<str>)> = mine.into_iter().map(|(r, s)| (s, r)).collect();
        left.sort_unstable_by_key(|(s, _)| *s);
        for (_, room) in &left {
            if let Some(members) = state.rooms.get_mut(room) {
                members.remove(spark_id);
                if members.is_empty() {
                    state.rooms.remove(room);
                    state.patterns.remove(room);
                }
            }
        }
        left.into_iter().map(|(_, r)| r.to_string()).collect()
    }

    fn rooms_of(&self, spark_id: &str) -> Vec<String> {
        let state = self.read();
        let Some(mine) = state.sparks.get(spark_id) else {
            return Vec::new();
        };
        let mut rooms: Vec<(u64, &Arc<str>)> = mine.iter().map(|(r, s)| (*s, r)).collect();
        rooms.sort_unstable_by_key(|(s, _)| *s);
        rooms.into_iter().map(|(_, r)| r.to_string()).collect()
    }

    fn members(&self, room: &str) -> Vec<String> {
        self.read()
            .rooms
            .get(room)
            .map(|m| m.iter().map(|id| id.to_string()).collect())
            .unwrap_or_default()
    }

    fn rooms(&self) -> Vec<String> {
        let mut all: Vec<String> = self.read().rooms.keys().map(|r| r.to_string()).collect();
        all.sort_unstable();
        all
    }

    fn members_of_any(&self, rooms: &[String], except: &[String], wildcards: bool) -> Vec<String> {
        // A long except list is looked up in a set, a short one scanned.
        let except_set: Option<HashSet<&str>> =
            (except.len() > 16).then(|| except.iter().map(String::as_str).collect());
        let skip = |id: &str| match &except_set {
            Some(set) => set.contains(id),
            None => except.iter().any(|e| e == id),
        };
        let state = self.read();
        if wildcards && !state.patterns.is_empty() {
            // Each requested room, plus every pattern room that matches it.
            let mut seen: HashSet<&Arc<str>> = HashSet::new();
            for room in rooms {
                let matching = state
                    .patterns
                    .iter()
                    .filter(|p| p.as_ref() != room.as_str() && glob_match(p, room))
                    .map(|p| p.as_ref());
                for name in std::iter::once(room.as_str()).chain(matching) {
                    if let Some(members) = state.rooms.get(name) {
                        seen.extend(members.iter().filter(|id| !skip(id)));
                    }
                }
            }
            return seen.into_iter().map(|id| id.to_string()).collect();
        }
        match rooms {
            [] => Vec::new(),
            [room] => state
                .rooms
                .get(room.as_str())
                .map(|m| {
                    m.iter()
                        .filter(|id| !skip(id))
                        .map(|id| id.to_string())
                        .collect()
                })
                .unwrap_or_default(),
            _ => {
                let mut seen: HashSet<&Arc<str>> = HashSet::new();
                for room in rooms {
                    if let Some(members) = state.rooms.get(room.as_str()) {
                        seen.extend(members.iter().filter(|id| !skip(id)));
                    }
                }
                seen.into_iter().map(|id| id.to_string()).collect()
            }
        }
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any characters (none
/// included) and everything else for itself; the whole of `text` must match. Linear in
/// practice, `O(pattern × text)` at worst (no regex, no backtracking blow-up).
///
/// ```
/// use primus::plugins::rooms::glob_match;
/// assert!(glob_match("user:*", "user:42"));
/// assert!(glob_match("*:admin", "team:admin"));
/// assert!(!glob_match("user:*", "users:42"));
/// assert!(glob_match("a*b*c", "a-b-b-c"));
/// ```
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` take one more byte.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn both_maps_follow_joins_and_leaves() {
        let a = MemoryAdapter::new();
        assert_eq!(a.add("s1", &names(&["b", "a"]), 10).unwrap(), ["b", "a"]);
        assert_eq!(a.add("s1", &names(&["a", "c"]), 10).unwrap(), ["c"]);
        a.add("s2", &names(&["a"]), 10).unwrap();
        assert_eq!(a.rooms_of("s1"), ["b", "a", "c"]);
        assert_eq!(a.rooms(), ["a", "b", "c"]);
        let mut m = a.members("a");
        m.sort();
        assert_eq!(m, ["s1", "s2"]);
        let mut any = a.members_of_any(&names(&["a", "b", "c"]), &[], false);
        any.sort();
        assert_eq!(any, ["s1", "s2"], "each id once");
        assert_eq!(
            a.members_of_any(&names(&["a", "b"]), &names(&["s1"]), false),
            ["s2"]
        );
        assert!(a.del("s1", "b"));
        assert!(!a.del("s1", "b"));
        assert_eq!(a.rooms(), ["a", "c"], "empty rooms are removed");
        assert_eq!(a.del_all("s1"), ["a", "c"]);
        assert_eq!(a.rooms(), ["a"]);
        assert_eq!(a.del_all("s2"), ["a"]);
        let state = a.read();
        assert!(state.rooms.is_empty() && state.sparks.is_empty());
    }

    #[test]
    fn the_limit_is_all_or_nothing() {
        let a = MemoryAdapter::new();
        a.add("s", &names(&["1", "2"]), 3).unwrap();
        let err = a.add("s", &names(&["2", "3", "4"]), 3).unwrap_err();
        assert!(matches!(err, RoomsError::TooManyRooms { limit: 3 }));
        assert_eq!(a.rooms_of("s"), ["1", "2"]);
        // Rooms it is already in do not count twice.
        assert_eq!(a.add("s", &names(&["1", "3"]), 3).unwrap(), ["3"]);
    }

    #[test]
    fn wildcard_rooms_match_broadcasts_when_asked() {
        let a = MemoryAdapter::new();
        a.add("b", &names(&["user:*"]), 10).unwrap();
        a.add("c", &names(&["user:42"]), 10).unwrap();
        a.add("d", &names(&["*"]), 10).unwrap();
        let mut got = a.members_of_any(&names(&["user:42"]), &[], true);
        got.sort();
        assert_eq!(got, ["b", "c", "d"]);
        assert_eq!(a.members_of_any(&names(&["user:42"]), &[], false), ["c"]);
        let mut got = a.members_of_any(&names(&["other"]), &names(&["x"]), true);
        got.sort();
        assert_eq!(got, ["d"]);
        a.del_all("d");
        a.del_all("b");
        assert!(a.read().patterns.is_empty(), "patterns go with their rooms");
        assert_eq!(a.members_of_any(&names(&["user:42"]), &[], true), ["c"]);
    }

    #[test]
    fn glob_matching() {
        for (p, t, want) in [
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("a*", "a", true),
            ("*a", "ba", true),
            ("*a", "ab", false),
            ("a*b", "axxb", true),
            ("a*b", "axxbc", false),
            ("a**b", "ab", true),
            ("*.*", "x.y.z", true),
            ("user:*:admin", "user:1:2:admin", true),
            ("a.c", "abc", false),
        ] {
            assert_eq!(glob_match(p, t), want, "{p:?} vs {t:?}");
        }
        // No exponential backtracking.
        let text = "a".repeat(2000);
        assert!(!glob_match(&("a*".repeat(100) + "b"), &text));
        assert!(glob_match(&"a*".repeat(100), &text));
    }
}
