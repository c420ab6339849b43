/**
 * "What changed in this account since a date" (issue 11), rendered from queries.ts changesSince:
 * a text table for people (stdout) or JSON for machines (`--json`).
 *
 * - Text: a title line, then one row per change, oldest first: when, what happened (added,
 *   changed, removed, restored), the item's kind, name and key, and for a change the top-level
 *   fields of its state that differ. Values from the database are printed with control characters
 *   escaped (`\u001b`), so that no name or tag can move the cursor or recolour the terminal.
 * - JSON: `{ accountId, since, changes: [{ at, change, kind, key, name, changedFields, before,
 *   after }] }`, 2-space indent, final newline; `changedFields` is null unless `change` is
 *   "changed"; `before`/`after` are the states as recorded (null when there is none).
 * `textTable` and `printable` serve the other history reports too.
 */
import { canonicalJson } from "../policyEquivalence";
import type { Change } from "../records/queries";

/** The top-level fields of two states that differ (sorted); [] when both are the same or not objects. */
export function changedFields(before: unknown, after: unknown): string[] {
    const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
    if (!isObject(before) || !isObject(after)) return canonicalJson(before) === canonicalJson(after) ? [] : ["(state)"];
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.filter((k) => canonicalJson(before[k] ?? null) !== canonicalJson(after[k] ?? null));
}

/** Text with C0/C1 control characters (and DEL) written as \uXXXX: safe to print to a terminal. */
export function printable(text: string): string {
    return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * Rows as an aligned table: the header, a rule of dashes, then the rows; columns two spaces apart,
 * no trailing spaces. Cells are made printable.
 */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
    const all = [header, ...rows].map((row) => row.map(printable));
    const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? "").length)));
    const line = (row: readonly string[]): string =>
        row
            .map((cell, i) => cell.padEnd(widths[i] ?? 0))
            .join("  ")
            .trimEnd();
    const [head, ...body] = all;
    return [line(head ?? []), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n") + "\n";
}

/** The changes as a text table (see the module comment). */
export function renderChangesText(accountId: string, since: Date, changes: readonly Change[]): string {
    const title = `Changes in account ${accountId} since ${since.toISOString()}`;
    if (changes.length === 0) return `${title}: none.\n`;
    const rows = changes.map((c) => [
        c.at.toISOString(),
        c.change,
        c.kind,
        c.name ?? "",
        c.change === "changed" ? changedFields(c.before, c.after).join(", ") || "(name only)" : "",
        c.key,
    ]);
    return `${title}: ${changes.length}\n\n${textTable(["When", "Change", "Kind", "Name", "Changed fields", "Key"], rows)}`;
}

/** The changes as JSON (see the module comment). */
export function renderChangesJson(accountId: string, since: Date, changes: readonly Change[]): string {
    return `${JSON.stringify(
        {
            accountId,
            since: since.toISOString(),
            changes: changes.map((c) => ({
                at: c.at.toISOString(),
                change: c.change,
                kind: c.kind,
                key: c.key,
                name: c.name,
                changedFields: c.change === "changed" ? changedFields(c.before, c.after) : null,
                before: c.before ?? null,
                after: c.after ?? null,
            })),
        },
        null,
        2,
    )}\n`;
}
