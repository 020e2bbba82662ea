//! The tables and views a script creates, by name (Flink's in-memory catalog:
//! `default_catalog.default_database`). Tables and views share one namespace; names
//! are case-sensitive, as in Flink.

use sqlparser::ast;

use super::ddl::CreateTable;
use super::script::Position;

/// A view: its query, planned afresh wherever it is read (as Flink inlines views).
#[derive(Debug, Clone)]
pub struct View {
    pub name: String,
    pub query: ast::Query,
    pub at: Position,
}

/// What a name refers to.
pub enum Relation<'a> {
    Table(&'a CreateTable),
    View(&'a View),
}

#[derive(Debug, Default)]
pub struct Catalog {
    tables: Vec<CreateTable>,
    views: Vec<View>,
}

impl Catalog {
    /// Registers a table; an existing name is an error unless `IF NOT EXISTS` (then
    /// the first definition stays, as in Flink).
    pub fn create_table(&mut self, table: CreateTable) -> Result<(), String> {
        if self.lookup(&table.name).is_some() {
            if table.if_not_exists {
                return Ok(());
            }
            return Err(format!("table or view '{}' already exists in default_catalog.default_database", table.name));
        }
        self.tables.push(table);
        Ok(())
    }

    pub fn create_view(&mut self, view: View) -> Result<(), String> {
        if self.lookup(&view.name).is_some() {
            return Err(format!("table or view '{}' already exists in default_catalog.default_database", view.name));
        }
        self.views.push(view);
        Ok(())
    }

    /// The table or view `name` (a `catalog.database.` prefix is ignored).
    pub fn lookup(&self, name: &str) -> Option<Relation<'_>> {
        let name = name.rsplit('.').next().unwrap_or(name);
        if let Some(t) = self.tables.iter().find(|t| t.name == name) {
            return Some(Relation::Table(t));
        }
        self.views.iter().find(|v| v.name == name).map(Relation::View)
    }

    /// An error for a name that is neither, listing the known ones.
    pub fn not_found(&self, name: &str) -> String {
        let mut known: Vec<&str> = self.tables.iter().map(|t| t.name.as_str()).chain(self.views.iter().map(|v| v.name.as_str())).collect();
        known.sort_unstable();
        if known.is_empty() {
            format!("object '{name}' not found: the script creates no table or view before this statement")
        } else {
            format!("object '{name}' not found within 'default_catalog.default_database' (known: {})", known.join(", "))
        }
    }
}
