import { ArgsError, AuditOptions, parseArgs, USAGE } from "../audit/args";

/** The problems parseArgs reports, asserting that it throws ArgsError with exit code 2. */
function problems(argv: string[]): readonly string[] {
    try {
        parseArgs(argv);
    } catch (e) {
        if (!(e instanceof ArgsError)) {
            throw e;
        }
        expect(e.exitCode).toBe(2);
        expect(e.message).toBe(e.problems.join("\n"));
        return e.problems;
    }
    throw new Error("expected an ArgsError");
}

const options = (argv: string[]): AuditOptions => {
    const parsed = parseArgs(argv);
    if ("help" in parsed) {
        throw new Error("unexpected help");
    }
    return parsed;
};

describe("parseArgs", () => {
    it("has defaults for everything but --targets", () => {
        expect(options(["--targets", "targets.json"])).toEqual({
            targetsFile: "targets.json",
            formats: ["html", "json"],
            outDir: "./audit-report",
            json: false,
            fix: false,
            concurrency: 4,
            stackOutputs: [],
            credentialReportMaxAgeMinutes: 240,
            db: "./airlock-records.sqlite",
        });
    });

    it("reads every option, in both --flag value and --flag=value forms", () => {
        expect(
            options([
                "--targets=conf/targets.json",
                "--format",
                "ocsf",
                "--format=json,html",
                "--out",
                "reports",
                "--json",
                "--fix",
                "--quarantine",
                "sg-0123456789abcdef0",
                "--yes",
                "--concurrency=32",
                "--checks",
                "unmanaged-instances,config-rules",
                "--checks=config-rules",
                "--regions",
                "eu-west-1,us-east-1",
                "--regions",
                "eu-west-1",
                "--stack-outputs",
                "web.json",
                "--stack-outputs=db.json",
                "--credential-report-max-age",
                "30",
                "--db=postgres://audit@db.internal:5432/airlock",
            ]),
        ).toEqual({
            targetsFile: "conf/targets.json",
            formats: ["ocsf", "json", "html"],
            outDir: "reports",
            json: true,
            fix: true,
            quarantine: { groupId: "sg-0123456789abcdef0", apply: true },
            concurrency: 32,
            // In CHECK_IDS order, once each.
            checks: ["config-rules", "unmanaged-instances"],
            regions: ["eu-west-1", "us-east-1"],
            stackOutputs: ["web.json", "db.json"],
            credentialReportMaxAgeMinutes: 30,
            db: "postgres://audit@db.internal:5432/airlock",
        });
    });

    it("makes --quarantine a dry run unless --yes, and accepts 8-digit group ids", () => {
        expect(options(["--targets", "t.json", "--quarantine", "sg-0a1b2c3d"]).quarantine).toEqual({ groupId: "sg-0a1b2c3d", apply: false });
    });

    it("returns the help for -h or --help, wherever it is and whatever else is wrong", () => {
        expect(parseArgs(["--help"])).toEqual({ help: USAGE });
        expect(parseArgs(["--bogus", "-h"])).toEqual({ help: USAGE });
        expect(USAGE).toContain("--targets FILE");
        expect(USAGE).toContain("Exit codes: 0 every target audited and clean; 1 findings; 2 some target could not be audited, or a usage error.");
    });

    it("requires --targets, and suggests it for a file given without it or a misspelt option", () => {
        expect(problems([])).toEqual(["--targets FILE is required: the accounts to audit (CloudKestrel's targets.json or Airlock's format). Run with --help for the options."]);
        expect(problems(["targets.json"])).toEqual(['Unexpected argument "targets.json": every input is given by an option. Did you mean --targets targets.json?']);
        expect(problems(["--target", "t.json"])).toEqual(['Unknown option --target. Did you mean "--targets"? Run with --help for the options.']);
        expect(problems(["--targets"])).toEqual(["--targets needs a file: the targets to audit, e.g. --targets targets.json."]);
        expect(problems(["--targets", "--json"])).toEqual(["--targets needs a file: the targets to audit, e.g. --targets targets.json."]);
        expect(problems(["--targets", "t.json", "-x", "--quarantin", "sg-0a1b2c3d"])).toEqual([
            "Unknown option -x. Run with --help for the options.",
            'Unknown option --quarantin. Did you mean "--quarantine"? Run with --help for the options.',
        ]);
    });

    it("refuses unknown formats, checks and regions with a did-you-mean", () => {
        expect(problems(["--targets", "t.json", "--format", "html,pdf", "--format", "jsn", "--checks", "public-bucket", "--regions", "us-east-1,eu-west-1a,Ireland"])).toEqual([
            '--format "pdf" is not a report format (html, json, ocsf).',
            '--format "jsn" is not a report format (html, json, ocsf). Did you mean "json"?',
            '--checks "public-bucket" is not a check (group-policies, config-rules, root-and-users, public-buckets, unmanaged-instances, cloudtrail-activity). Did you mean "public-buckets"?',
            '--regions "eu-west-1a" is an availability zone; its region is "eu-west-1".',
            '--regions "Ireland" is not an AWS region name such as "us-east-1" or "eu-west-2".',
        ]);
    });

    it("refuses --yes without --quarantine, --quarantine without a group id or with a name, and options whose check --checks leaves out", () => {
        expect(problems(["--targets", "t.json", "--yes"])).toEqual(["--yes confirms --quarantine (moving instances), but --quarantine is not given; remove --yes, or add --quarantine GROUP_ID."]);
        expect(problems(["--targets", "t.json", "--quarantine", "--yes"])).toEqual(["--quarantine needs the id of the quarantine security group, e.g. --quarantine sg-0123456789abcdef0."]);
        expect(problems(["--targets", "t.json", "--quarantine", "quarantine-sg", "--yes"])).toEqual([
            '--quarantine needs a security group id such as sg-0123456789abcdef0, not "quarantine-sg" (a group\'s id, not its name).',
        ]);
        expect(problems(["--targets", "t.json", "--quarantine", "sg-0123456789abcdef0", "--checks", "group-policies", "--fix", "--stack-outputs", "x.json"])).toEqual([
            "--quarantine moves the instances found by the unmanaged-instances check, which --checks leaves out; add it to --checks or remove --quarantine.",
            "--fix adds the rules found missing by the config-rules check, which --checks leaves out; add it to --checks or remove --fix.",
            "--stack-outputs is read by the unmanaged-instances and cloudtrail-activity checks, which --checks leaves out; add one to --checks or remove --stack-outputs.",
        ]);
        expect(options(["--targets", "t.json", "--checks", "cloudtrail-activity", "--stack-outputs", "x.json"]).stackOutputs).toEqual(["x.json"]);
    });

    it("--db names the records database, --no-db keeps none; not both, and not --no-db with cloudtrail-activity", () => {
        expect(options(["--targets", "t.json", "--db", "records/audit.sqlite"]).db).toBe("records/audit.sqlite");
        expect(options(["--targets", "t.json", "--no-db"]).db).toBeUndefined();
        expect(problems(["--targets", "t.json", "--db", "x.sqlite", "--no-db"])).toEqual(["--db and --no-db contradict each other; give one."]);
        expect(problems(["--targets", "t.json", "--no-db", "--checks", "cloudtrail-activity"])).toEqual([
            "--no-db leaves the cloudtrail-activity check nowhere to keep the trail's events; remove --no-db, or leave cloudtrail-activity out of --checks.",
        ]);
        expect(problems(["--targets", "t.json", "--db"])).toEqual(["--db needs a SQLite file or a postgres:// URL, e.g. --db ./airlock-records.sqlite."]);
    });

    it("refuses out-of-range numbers, a value on a flag and a single-valued option given twice, all at once", () => {
        expect(problems(["--targets", "t.json", "--concurrency", "0", "--credential-report-max-age", "abc", "--json=yes", "--out", "a", "--out", "b", "--targets", "u.json"])).toEqual([
            "--json takes no value; write --json alone.",
            '--out is given twice ("a" and "b"); give it once.',
            '--targets is given twice ("t.json" and "u.json"); give it once.',
            '--concurrency must be a whole number from 1 to 32, not "0".',
            '--credential-report-max-age must be a whole number from 1 to 1440, not "abc".',
        ]);
        expect(problems(["--targets", "t.json", "--concurrency", "33"])).toEqual(['--concurrency must be a whole number from 1 to 32, not "33".']);
        expect(problems(["--targets", "t.json", "--concurrency", "-1"])).toEqual(['--concurrency must be a whole number from 1 to 32, not "-1".']);
        expect(problems(["--targets", "t.json", "--format="])).toEqual(["--format needs a report format (html, json, ocsf)."]);
    });
});
