/**
 * The records database's schema changes, numbered, in code (no migration files to ship or find at
 * run time), run by Kysely's Migrator on every open (db.ts): the same migrations on SQLite and
 * PostgreSQL, with only portable schema-builder features. The one place the two differ is the
 * generated integer id (`idColumn`). Never edit a migration that has shipped: add the next one.
 *
 * Kysely keeps what ran in `kysely_migration` and locks with `kysely_migration_lock` (PostgreSQL: an
 * advisory lock; SQLite: the BEGIN IMMEDIATE transaction of sqlite.ts), so two processes opening
 * the same database at once run each migration once.
 */
import type { CreateTableBuilder, Kysely } from "kysely";
import type * as KyselyMigration from "kysely/dist/migration/index";

/*
 * Kysely 0.29 exports its migrator only from the package subpath "kysely/migration" (its main
 * entry's Migrator is a type error saying so). The project's tsconfig resolves modules the classic
 * Node way (moduleResolution "node"), which does not read package "exports" subpaths, so the types
 * come from the file that subpath points at (type-only, erased at build), and the value from the
 * subpath itself through require (Node and jest resolve "exports"; a tsconfig with
 * moduleResolution node16/bundler could import it directly).
 */
type Migration = KyselyMigration.Migration;
type MigrationProvider = KyselyMigration.MigrationProvider;
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const { Migrator } = require("kysely/migration") as typeof KyselyMigration;

export type DatabaseKind = "sqlite" | "postgres";

/** An integer primary key the database generates: SQLite's autoincrement, PostgreSQL's identity. */
function idColumn<T extends string>(table: CreateTableBuilder<T, never>, kind: DatabaseKind): CreateTableBuilder<T, "id"> {
    return kind === "sqlite"
        ? table.addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
        : table.addColumn("id", "integer", (c) => c.primaryKey().generatedByDefaultAsIdentity());
}

function initial(kind: DatabaseKind): Migration {
    return {
        async up(db: Kysely<unknown>): Promise<void> {
            await db.schema
                .createTable("audit_runs")
                .addColumn("id", "text", (c) => c.primaryKey())
                .addColumn("started_at", "text", (c) => c.notNull())
                .addColumn("finished_at", "text")
                .addColumn("tool_version", "text")
                .execute();

            await db.schema
                .createTable("inventory_items")
                .addColumn("account_id", "text", (c) => c.notNull())
                .addColumn("kind", "text", (c) => c.notNull())
                .addColumn("item_key", "text", (c) => c.notNull())
                .addColumn("name", "text")
                .addColumn("state", "text", (c) => c.notNull())
                .addColumn("state_hash", "text", (c) => c.notNull())
                .addColumn("first_seen", "text", (c) => c.notNull())
                .addColumn("last_changed", "text", (c) => c.notNull())
                .addColumn("last_audited", "text", (c) => c.notNull())
                .addColumn("removed_at", "text")
                .addPrimaryKeyConstraint("inventory_items_pk", ["account_id", "kind", "item_key"])
                .execute();

            await idColumn(db.schema.createTable("inventory_versions"), kind)
                .addColumn("account_id", "text", (c) => c.notNull())
                .addColumn("kind", "text", (c) => c.notNull())
                .addColumn("item_key", "text", (c) => c.notNull())
                .addColumn("name", "text")
                .addColumn("state", "text")
                .addColumn("valid_from", "text", (c) => c.notNull())
                .addColumn("valid_to", "text")
                .addColumn("run_id", "text", (c) => c.references("audit_runs.id"))
                .execute();
            await db.schema.createIndex("inventory_versions_item").on("inventory_versions").columns(["account_id", "kind", "item_key"]).execute();
            await db.schema.createIndex("inventory_versions_from").on("inventory_versions").columns(["account_id", "valid_from"]).execute();

            await idColumn(db.schema.createTable("findings"), kind)
                .addColumn("run_id", "text", (c) => c.notNull().references("audit_runs.id"))
                .addColumn("target", "text", (c) => c.notNull())
                .addColumn("account_id", "text")
                .addColumn("region", "text", (c) => c.notNull())
                .addColumn("check_id", "text", (c) => c.notNull())
                .addColumn("resource", "text", (c) => c.notNull())
                .addColumn("status", "text", (c) => c.notNull())
                .addColumn("severity", "text", (c) => c.notNull())
                .addColumn("title", "text", (c) => c.notNull())
                .addColumn("evidence", "text", (c) => c.notNull())
                .addColumn("uid", "text", (c) => c.notNull())
                .execute();
            await db.schema.createIndex("findings_account_run").on("findings").columns(["account_id", "run_id"]).execute();

            await db.schema
                .createTable("cloudtrail_files")
                .addColumn("bucket", "text", (c) => c.notNull())
                .addColumn("object_key", "text", (c) => c.notNull())
                .addColumn("etag", "text")
                .addColumn("events", "integer", (c) => c.notNull())
                .addColumn("ingested_at", "text", (c) => c.notNull())
                .addPrimaryKeyConstraint("cloudtrail_files_pk", ["bucket", "object_key"])
                .execute();

            // The columns are spelt out here, not taken from events.ts's TRAIL_EVENT_COLUMNS: a
            // migration is a record of what it created and must not change when that list does.
            let events = db.schema
                .createTable("cloudtrail_events")
                .addColumn("event_id", "text", (c) => c.primaryKey())
                .addColumn("event_time", "text", (c) => c.notNull())
                .addColumn("event_source", "text", (c) => c.notNull())
                .addColumn("event_name", "text", (c) => c.notNull())
                .addColumn("aws_region", "text", (c) => c.notNull());
            for (const column of [
                "recipient_account_id",
                "event_type",
                "read_only",
                "principal_type",
                "principal_arn",
                "principal_account_id",
                "access_key_id",
                "session_issuer_arn",
                "session_name",
                "invoked_by",
                "mfa_authenticated",
                "source_ip",
                "user_agent",
                "error_code",
                "error_message",
                "vpc_endpoint_id",
                "request_parameters",
                "response_elements",
                "additional_event_data",
                "resources",
            ]) {
                events = events.addColumn(column, "text");
            }
            await events.addColumn("file_bucket", "text", (c) => c.notNull()).addColumn("file_key", "text", (c) => c.notNull()).execute();
            await db.schema.createIndex("cloudtrail_events_time").on("cloudtrail_events").column("event_time").execute();
            await db.schema.createIndex("cloudtrail_events_principal").on("cloudtrail_events").columns(["principal_arn", "event_time"]).execute();
            await db.schema.createIndex("cloudtrail_events_session").on("cloudtrail_events").column("session_name").execute();
            await db.schema.createIndex("cloudtrail_events_name").on("cloudtrail_events").column("event_name").execute();
        },
    };
}

/** Every migration, by name; names sort in the order they run. */
export function recordsMigrations(kind: DatabaseKind): Record<string, Migration> {
    return {
        "0001_initial": initial(kind),
    };
}

/** Kysely's MigrationProvider over recordsMigrations (in memory: nothing read from disk). */
export class RecordsMigrationProvider implements MigrationProvider {
    constructor(private readonly kind: DatabaseKind) {}
    async getMigrations(): Promise<Record<string, Migration>> {
        return recordsMigrations(this.kind);
    }
}

/** The tables migrations create (for tests and diagnostics). */
export const RECORDS_TABLES = ["audit_runs", "inventory_items", "inventory_versions", "findings", "cloudtrail_files", "cloudtrail_events"] as const;
