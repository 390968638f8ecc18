//! Where each value of a YAML document stands: a path (`steps.3.run.node`) to its line and
//! column, read with yaml-rust2's marked events, so a check made after serde has done its
//! work can still point at the place in the file.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

enum Frame {
    /// In a mapping: the key just read, if the next scalar is its value.
    Map {
        key: Option<String>,
    },
    Seq {
        index: usize,
    },
}

#[derive(Default)]
struct Collector {
    stack: Vec<Frame>,
    path: Vec<String>,
    places: HashMap<String, (usize, usize)>,
}

impl Collector {
    /// The segment of the value that starts now: its key in a mapping, its index in a list.
    fn next_segment(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            Some(Frame::Map { key }) => key.take(),
            Some(Frame::Seq { index }) => {
                *index += 1;
                Some((*index - 1).to_string())
            }
            None => None,
        }
    }

    fn record(&mut self, segment: Option<&str>, mark: Marker) {
        let path: Vec<&str> = self
            .path
            .iter()
            .map(String::as_str)
            .chain(segment)
            .filter(|s| !s.is_empty())
            .collect();
        self.places
            .entry(path.join("."))
            .or_insert((mark.line(), mark.col() + 1));
    }
}

impl MarkedEventReceiver for Collector {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, ..) => {
                if let Some(Frame::Map { key }) = self.stack.last_mut() {
                    if key.is_none() {
                        *key = Some(text);
                        return;
                    }
                }
                let segment = self.next_segment();
                self.record(segment.as_deref(), mark);
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let segment = self.next_segment();
                self.record(segment.as_deref(), mark);
                self.path.push(segment.unwrap_or_default());
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map { key: None }
                } else {
                    Frame::Seq { index: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.path.pop();
            }
            _ => {}
        }
    }
}

/// Places of every value in `text`, by dotted path; empty when the text does not parse (serde
/// reports that with its own place).
pub struct Spans {
    places: HashMap<String, (usize, usize)>,
}

impl Spans {
    pub fn of(text: &str) -> Spans {
        let mut c = Collector::default();
        let _ = Parser::new_from_str(text).load(&mut c, false);
        Spans { places: c.places }
    }

    /// The place of `path`, or of its nearest ancestor that has one.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path.to_string();
        loop {
            if let Some(place) = self.places.get(&p) {
                return Some(*place);
            }
            match p.rfind('.') {
                Some(i) => p.truncate(i),
                None => return self.places.get("").copied(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_find_their_lines_and_columns() {
        let text = "inventory: lab.yaml\nsteps:\n  - boot: [p1, p2]\n  - run: { node: p9, cmd: true }\n  - subtest:\n      name: x\n      steps:\n        - crash: p1\n";
        let s = Spans::of(text);
        assert_eq!(s.find("inventory"), Some((1, 12)));
        assert_eq!(s.find("steps.0.boot.1"), Some((3, 16)));
        assert_eq!(s.find("steps.1.run.node"), Some((4, 18)));
        assert_eq!(s.find("steps.2.subtest.steps.0.crash"), Some((8, 18)));
        assert_eq!(s.find("steps.1.run.nothing"), s.find("steps.1.run"));
    }
}
