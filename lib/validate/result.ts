import { Problem } from "../ipam/problem";

/** Problems reject an object; warnings let it through but tell the client something it should know. */
export interface Verdict {
  problems: Problem[];
  warnings: string[];
}
