// The one SQL layer's dialects. Statements are written once, with `?`
// placeholders and `{table}` names; each dialect spells them as its database
// wants, and names the few things the two databases say differently.
export type SqlValue = string | number | null

export interface Dialect {
  readonly name: 'sqlite' | 'postgres'
  /** The statement in this dialect: its placeholders and its table names. */
  text(sql: string): string
  /**
   * A column as the dead-letter cursor compares it: bytewise, as SQLite's
   * BINARY collation does, whatever the database's locale.
   */
  bytewise(column: string): string
  /**
   * What `attempts` becomes with one more attempt, as an SQL expression of one
   * placeholder; undefined where the list is read, extended and written back.
   */
  readonly appendAttempt: string | undefined
}

const TABLE = /\{([a-z_]+)\}/g

export const SQLITE: Dialect = {
  name: 'sqlite',
  text: (sql) => sql.replace(TABLE, '$1'),
  bytewise: (column) => column,
  // One connection writes: reading the list first loses nothing.
  appendAttempt: undefined
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/**
 * PostgreSQL, with every table named with its schema: the pool may be
 * shared, its search_path is not ours to set.
 */
export function postgresDialect(schema: string): Dialect {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`schema ${schema} is not a plain lower-case identifier`)
  return {
    name: 'postgres',
    text(sql) {
      let n = 0
      return sql.replace(TABLE, (_, table: string) => `${schema}.${table}`).replace(/\?/g, () => `$${++n}`)
    },
    bytewise: (column) => `${column} COLLATE "C"`,
    // In SQL, so that two workers recording at once lose neither.
    appendAttempt: '(attempts::jsonb || jsonb_build_array(?::jsonb))::text'
  }
}
