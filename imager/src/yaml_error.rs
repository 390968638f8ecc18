//! serde_yaml_ng errors as piimage reports them: the place as numbers (the caller prints it
//! its own way) and the message without the "at line N column M" it embeds.

/// (1-based line and column if known, the message without its location).
pub fn describe(e: &serde_yaml_ng::Error) -> (Option<(usize, usize)>, String) {
    let place = e.location().map(|l| (l.line(), l.column()));
    let mut message = e.to_string();
    if let Some(at) = message.find(" at line ") {
        let rest = &message[at + " at line ".len()..];
        // Skip "N column M" and keep whatever follows (", while scanning …").
        let tail = rest
            .split_once(" column ")
            .map(|(_, after)| after.trim_start_matches(|c: char| c.is_ascii_digit()))
            .unwrap_or("");
        message = format!("{}{tail}", &message[..at]);
    }
    (place, message)
}

#[cfg(test)]
mod tests {
    #[test]
    fn location_is_taken_out_wherever_it_stands() {
        let e = serde_yaml_ng::from_str::<Vec<u8>>("\"open").unwrap_err();
        let (place, message) = super::describe(&e);
        assert!(place.is_some());
        assert!(!message.contains("at line"), "{message}");
        assert!(message.contains("quoted scalar"), "{message}");
    }
}
