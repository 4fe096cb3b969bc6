/** The noisefloor release, recorded in every model manifest and in noisefloor_build_info; test/util/version.test.ts keeps it equal to package.json's. */
export const NOISEFLOOR_VERSION = '0.1.0';
