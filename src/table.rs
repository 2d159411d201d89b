//! Plain-text tables for command output: columns padded to their widest cell, the last column
//! left ragged so long text (a status, a full name) does not pad every line.

/// A table being filled row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first row is `header`.
    pub fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// Adds a row; missing cells are empty, extra cells are kept.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Rows added after the header.
    pub fn len(&self) -> usize {
        self.rows.len() - 1
    }

    /// The rendered lines, without trailing spaces.
    pub fn lines(&self) -> Vec<String> {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        self.rows
            .iter()
            .map(|row| {
                let mut line = String::new();
                for (i, cell) in row.iter().enumerate() {
                    if i > 0 {
                        line.push_str("  ");
                    }
                    line.push_str(cell);
                    let pad = widths[i] - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                line.trim_end().to_string()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_under_the_widest_cell() {
        let mut t = Table::new(&["NAME", "STATUS"]);
        t.row(vec!["alice".into(), "past due".into()]);
        t.row(vec!["bo".into(), "accepted".into()]);
        assert_eq!(
            t.lines(),
            vec!["NAME   STATUS", "alice  past due", "bo     accepted"]
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["é".into(), "x".into()]);
        t.row(vec!["ab".into(), "y".into()]);
        assert_eq!(t.lines()[1], "é   x");
    }
}
