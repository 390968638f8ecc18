//! Finding where a setting is written in the inventory's text, for errors found after
//! parsing (a duplicate address, an address outside its prefix). YAML as people write
//! inventories: block mappings, or one-line flow mappings per node.

/// A 1-based line and column.
pub type Place = (usize, usize);

pub struct Locator<'t> {
    lines: Vec<&'t str>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_key(line: &str, key: &str) -> bool {
    let t = line.trim_start().trim_start_matches("- ");
    t.strip_prefix(key)
        .is_some_and(|rest| rest.starts_with(':'))
}

impl<'t> Locator<'t> {
    pub fn new(text: &'t str) -> Locator<'t> {
        Locator {
            lines: text.lines().collect(),
        }
    }

    /// A top-level key (`base:`, `defaults:`, `nodes:`).
    pub fn top(&self, key: &str) -> Option<Place> {
        self.lines
            .iter()
            .position(|l| indent(l) == 0 && is_key(l, key))
            .map(|i| (i + 1, 1))
    }

    /// The line of `key` within the block that starts on `from` (1-based), or in the flow
    /// mapping on that line itself.
    fn within(&self, from: usize, key: &str) -> Option<Place> {
        let start = from.checked_sub(1)?;
        let head = self.lines.get(start)?;
        let needle = format!("{key}:");
        if let Some(col) = head
            .find('{')
            .and_then(|brace| head[brace..].find(&needle).map(|c| brace + c))
        {
            return Some((from, col + 1));
        }
        let base = indent(head);
        for (i, line) in self.lines.iter().enumerate().skip(start + 1) {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            if indent(line) <= base {
                break;
            }
            if is_key(line, key) {
                return Some((i + 1, indent(line) + 1));
            }
            if let Some(col) = line
                .find(&format!(" {needle}"))
                .or_else(|| line.find(&format!("{{{needle}")))
            {
                return Some((i + 1, col + 2));
            }
        }
        None
    }

    /// A node's own line under `nodes:`.
    pub fn node(&self, name: &str) -> Option<Place> {
        let (nodes, _) = self.top("nodes")?;
        self.within(nodes, name)
    }

    /// A key path inside a node (`["network", "gateway"]`), or the deepest part found.
    pub fn node_key(&self, name: &str, path: &[&str]) -> Option<Place> {
        let mut place = self.node(name)?;
        for key in path {
            match self.within(place.0, key) {
                Some(p) => place = p,
                None => break,
            }
        }
        Some(place)
    }

    /// A key path inside `defaults:`.
    pub fn defaults_key(&self, path: &[&str]) -> Option<Place> {
        let mut place = self.top("defaults")?;
        for key in path {
            match self.within(place.0, key) {
                Some(p) => place = p,
                None => break,
            }
        }
        Some(place)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "base: x.img\ndefaults:\n  network: { prefix: 24, gateway: 10.0.0.254 }\nnodes:\n  p1: { address: 10.0.0.1 }\n  p2:\n    address: 10.0.0.2\n    network:\n      gateway: 10.0.0.9\n";

    #[test]
    fn finds_block_and_flow_keys() {
        let at = Locator::new(TEXT);
        assert_eq!(at.top("nodes"), Some((4, 1)));
        assert_eq!(at.node("p2"), Some((6, 3)));
        assert_eq!(at.node_key("p1", &["address"]), Some((5, 9)));
        assert_eq!(at.node_key("p2", &["address"]), Some((7, 5)));
        assert_eq!(at.node_key("p2", &["network", "gateway"]), Some((9, 7)));
        assert_eq!(at.defaults_key(&["network", "gateway"]), Some((3, 26)));
    }
}
