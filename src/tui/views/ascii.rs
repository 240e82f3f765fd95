//! ASCII mode: after a frame is drawn, every cell that is not ASCII is replaced by one that
//! is, in the same column, so layout and truncation stay exactly as measured. Borders become
//! `+ - |`, chart and sparkline blocks an ASCII ramp (`. - + = #`), symbols their nearest
//! ASCII (`…` `~`, `›` `→` `>`, `←` `<`, `↑` `▲` `^`, `↓` `▼` `v`, `✓` `+`, `✗` `x`, `⚠` `!`,
//! `•` `*`, `·` `-`), and anything else, such as a key name in another script, `?`. One pass
//! over the buffer rather than a choice at every widget, so no view (and no text from the
//! server) can slip a glyph through. Charts choose ASCII markers themselves (`usage`), since
//! their series are told apart by marker.

use ratatui::buffer::Buffer;

/// The ASCII stand-in for one non-ASCII character.
pub fn replacement(c: char) -> char {
    match c {
        '…' | '⧗' => '~',
        '›' | '→' | '⇒' | '►' | '▶' | '▸' | '»' | '❯' => '>',
        '‹' | '←' | '⇐' | '◄' | '◀' | '◂' | '«' => '<',
        '↑' | '▲' | '△' | '⇧' => '^',
        '↓' | '▼' | '▽' | '⇩' => 'v',
        '✓' | '✔' => '+',
        '✗' | '✘' | '×' => 'x',
        '⚠' | '❗' => '!',
        '•' | '●' | '◆' | '★' => '*',
        '○' | '◯' => 'o',
        '·' | '–' | '—' | '−' | '∅' => '-',
        '“' | '”' | '„' => '"',
        '‘' | '’' => '\'',
        '≥' => '>',
        '≤' => '<',
        '▏' => '_',
        // Box drawing: lines and their crossings.
        '─' | '━' | '═' | '┄' | '┅' | '┈' | '┉' | '╌' | '╍' => '-',
        '│' | '┃' | '║' | '┆' | '┇' | '┊' | '┋' | '╎' | '╏' => '|',
        '\u{2500}'..='\u{257f}' => '+',
        // Blocks (sparklines, bar markers) by height.
        '▁' => '.',
        '▂' | '▃' => '-',
        '▄' => '+',
        '▅' | '▆' => '=',
        '\u{2580}'..='\u{259f}' => '#',
        // Braille (the chart's line): any dot is a point.
        '\u{2800}' => ' ',
        '\u{2801}'..='\u{28ff}' => '*',
        _ => '?',
    }
}

/// Replace every non-ASCII cell of `buf` (see the module).
pub fn asciify(buf: &mut Buffer) {
    let mut tmp = [0u8; 4];
    for cell in &mut buf.content {
        let sym = cell.symbol();
        if sym.is_ascii() {
            continue;
        }
        let mut chars = sym.chars();
        let r = match (chars.next(), chars.next()) {
            (Some(c), None) => replacement(c),
            _ => '?',
        };
        cell.set_symbol(r.encode_utf8(&mut tmp));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;

    #[test]
    fn every_cell_becomes_ascii_in_place() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 12, 1));
        buf.set_string(0, 0, "┌─│…✓東⠿▄", ratatui::style::Style::default());
        asciify(&mut buf);
        let row: String = (0..12).map(|x| buf[(x, 0)].symbol().to_owned()).collect();
        assert_eq!(row, "+-|~+? *+   ");
        assert!(buf.content.iter().all(|c| c.symbol().is_ascii()));
    }
}
