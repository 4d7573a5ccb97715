import { describe, expect, it } from 'vitest';
import { encodeKeyPath, parseAuthorization, sign } from './s3-signing.js';

/**
 * The examples of AWS's "Signature Calculations for the Authorization Header" page
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html): the signer
 * must reproduce AWS's published signatures, so the S3 client and the test stand-in (which both
 * use it) cannot agree on a mistake.
 */
const creds = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  region: 'us-east-1',
};

describe('SigV4 signing', () => {
  it('signs AWS’s GET Object example (with Range)', () => {
    const { authorization, signature } = sign(
      {
        method: 'GET',
        path: '/test.txt',
        query: '',
        headers: {
          Host: 'examplebucket.s3.amazonaws.com',
          Range: 'bytes=0-9',
          'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
          'x-amz-date': '20130524T000000Z',
        },
      },
      creds,
    );
    expect(signature).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
    expect(authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
    expect(parseAuthorization(authorization)).toEqual({
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      date: '20130524',
      region: 'us-east-1',
      service: 's3',
      signedHeaders: ['host', 'range', 'x-amz-content-sha256', 'x-amz-date'],
      signature: 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    });
  });

  it('signs AWS’s PUT Object example (an encoded key, extra signed headers)', () => {
    const { signature } = sign(
      {
        method: 'PUT',
        path: `/${encodeKeyPath('test$file.text')}`,
        query: '',
        headers: {
          Host: 'examplebucket.s3.amazonaws.com',
          Date: 'Fri, 24 May 2013 00:00:00 GMT',
          'x-amz-date': '20130524T000000Z',
          'x-amz-storage-class': 'REDUCED_REDUNDANCY',
          'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
        },
      },
      creds,
    );
    expect(signature).toBe('98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd');
  });

  it('refuses to sign without x-amz-date, and parses nothing that is not SigV4', () => {
    expect(() => sign({ method: 'GET', path: '/', query: '', headers: { host: 'h' } }, creds)).toThrow();
    expect(parseAuthorization('Bearer abc')).toBeUndefined();
    expect(parseAuthorization(undefined)).toBeUndefined();
  });
});
