export declare const CACHE: string;
export declare const DEBS_ROOT: string;
export declare function tool(relative: string): string;
export declare function toolEnv(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export declare function busybox(): string;
export declare function socat(): string;
export declare function dockerRegistry(): string;
export declare function wrk(): string;
