import type { PromotionInputs } from "../promotionInputs";
import { inspectorScanner } from "./inspector";
import { noScanner } from "./none";
import { tenableScanner } from "./tenable";
import { Scanner, scannerError } from "./types";

/** Poll intervals of the scanners; the defaults suit real scans, tests shorten them. */
export interface PollTuning {
    readonly pollInitialMs?: number;
    readonly pollMaxMs?: number;
}

/** The scanner an instance's promotion uses, from its (already checked) inputs. */
export function createScanner(inputs: PromotionInputs, tuning: PollTuning = {}): Scanner {
    const s = inputs.scanner;
    switch (s.kind) {
        case "tenable":
            if (s.url === undefined || s.accessKey === undefined || s.secretKey === undefined || s.templateUuid === undefined) {
                throw scannerError("The tenable scanner needs url, accessKey, secretKey and templateUuid.");
            }
            return tenableScanner({ url: s.url, accessKey: s.accessKey, secretKey: s.secretKey, templateUuid: s.templateUuid, policyId: s.policyId, ...tuning });
        case "inspector":
            return inspectorScanner({ region: inputs.region, assumeRoleArn: inputs.assumeRoleArn, ...tuning });
        case "none":
            return noScanner();
        default:
            throw scannerError(`Unknown scanner kind ${JSON.stringify(s.kind)}.`);
    }
}
